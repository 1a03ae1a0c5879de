"""What the engines share: URL, the bounded pool, host pinning at connect."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Engine, event
from sqlalchemy.pool import NullPool, QueuePool
from sqlalchemy.util import queue as sqla_queue

if TYPE_CHECKING:
    from connections.models import DatabaseConnection


def server_url(conn: DatabaseConnection, driver: str) -> URL:
    """Return the URL; parameters stay separate, never spliced into a DSN."""
    return URL.create(
        driver,
        username=conn.username or None,
        password=conn.get_password() or None,
        host=conn.host,
        port=conn.port,
        database=conn.database_name,
    )


class BoundedPool(QueuePool):
    """A queue pool that knows how long each waiting connection has been idle,
    and closes those idle for longer than asked (`close_idle`).

    Last in, first out: under a light load the same few connections serve
    every checkout, and the others stay idle long enough to be closed.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_used = time.monotonic()
        self.retired = False

    def retire(self) -> None:
        """Close every waiting connection now, and each one in use as it is
        given back (the engine was disposed: this pool is no longer its own)."""
        self.retired = True
        self.close_idle(0)

    def _do_get(self) -> Any:
        record = super()._do_get()
        self.last_used = time.monotonic()
        return record

    def _do_return_conn(self, record: Any) -> None:
        self.last_used = record.info[_IDLE_SINCE] = time.monotonic()
        if self.retired:
            try:
                record.close()
            finally:
                self._dec_overflow()
            return
        super()._do_return_conn(record)

    def close_idle(self, idle_s: float) -> int:
        """Close the waiting connections idle for `idle_s` or longer; return how
        many. A checkout meanwhile waits for the ones put back, never opens more
        than the pool's size (they still count until closed)."""
        now = time.monotonic()
        kept: list[Any] = []
        closed = 0
        while True:
            try:
                record = self._pool.get(False)
            except sqla_queue.Empty:
                break
            if now - record.info.get(_IDLE_SINCE, now) >= idle_s:
                try:
                    record.close()
                finally:
                    self._dec_overflow()
                closed += 1
            else:
                kept.append(record)
        # Taken newest first: put back oldest first, so the order stays LIFO.
        for record in reversed(kept):
            self._pool.put(record, False)
        return closed


_IDLE_SINCE = "sqlagent_idle_since"


def pool_args(*, pooled: bool) -> dict[str, Any]:
    """Return the pool arguments: no pool for a one-off check; else one bounded
    pool per database identity (TARGET_DB_MAX_CONNECTIONS, no overflow), or the
    small per-session pool of TARGET_DB_POOL_SCOPE=session."""
    from django.conf import settings

    if not pooled:
        return {"poolclass": NullPool}
    if settings.TARGET_DB_POOL_SCOPE == "session":
        size, overflow = settings.TARGET_POOL_SIZE, settings.TARGET_MAX_OVERFLOW
    else:
        size, overflow = settings.TARGET_DB_MAX_CONNECTIONS, 0
    return {
        "poolclass": BoundedPool,
        "pool_size": size,
        "max_overflow": overflow,
        "pool_timeout": settings.TARGET_CONNECT_TIMEOUT_S,
        "pool_recycle": 1800,
        "pool_pre_ping": True,
        "pool_use_lifo": True,
    }


def pin_resolved_address(
    engine: Engine, host: str, port: int, param: str, *, keep_name: bool = False
) -> None:
    """Resolve and check the host at every physical connect; connect to that address.

    With `keep_name` (a TLS mode that checks the server's certificate against
    the host name, which the driver can only do when given the name), the name
    is checked the same way but handed to the driver as it is.
    """
    from connections import target_policy

    @event.listens_for(engine, "do_connect")
    def _resolve(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> None:
        address = target_policy.resolve_host(host, port)
        cparams[param] = host if keep_name else address
