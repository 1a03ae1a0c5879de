"""One bounded pool per target database, shared by every session in the process.

Before, each session had a pool of its own: fifty users who registered the
same database held fifty connections to it, for as long as their sessions
stayed cached. Now a pool is keyed by who connects where (`pool_identity`:
engine, host, port, database, user, options and a keyed digest of the
password, so a changed password never reuses a pool opened with the old one)
and holds at most TARGET_DB_MAX_CONNECTIONS connections, whoever asks. A
connection idle for TARGET_DB_IDLE_TIMEOUT_S is closed by a reaper thread; a
pool whose records all moved to another identity (a changed connection) is
closed at once, and one unused for ENGINE_CACHE_IDLE_TIMEOUT_S is dropped.

The registry knows nothing of the gate: `connections.engines.engine_shared`
builds each pool's engine behind it and asks here for the one in use.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from django.conf import settings
from sqlalchemy import Engine

from connections.models import DatabaseConnection

logger = logging.getLogger(__name__)


def pool_identity(conn: DatabaseConnection) -> Hashable:
    """Return who connects where, as the pool key: two records that would log in
    as the same role to the same database share it, whoever owns them.

    The password enters as an HMAC under SECRET_KEY (never kept in clear): the
    stored ciphertext differs for every save of one password, the digest does
    not. Raises DecryptionError when the password cannot be read.
    """
    password = conn.get_password() or ""
    secret = hmac.new(
        settings.SECRET_KEY.encode(), password.encode(), hashlib.sha256
    ).hexdigest()
    options = json.dumps(conn.options or {}, sort_keys=True, default=str)
    return (
        conn.db_type,
        conn.host,
        conn.port,
        conn.database_name,
        conn.username,
        options,
        secret,
    )


@dataclass
class _Pool:
    engine: Engine
    connection_ids: set[int] = field(default_factory=set)


class TargetPools:
    """The process's pools by database identity; thread-safe, like Django's
    `BaseConnectionHandler` with `close_all()`."""

    def __init__(self) -> None:
        self._pools: dict[Hashable, _Pool] = {}
        # The engines of `_pools`, for a look-up on every session's request.
        self._engines: set[Engine] = set()
        self._identity_of: dict[int, Hashable] = {}
        self._lock = threading.Lock()
        self._reaper_pid: int | None = None
        # Closed engines that a request may still use until it ends.
        self._retired: list[Engine] = []

    def engine_get(
        self,
        identity: Hashable,
        *,
        connection_id: int,
        build: Callable[[], Engine],
    ) -> Engine:
        """Return the pool's engine for `identity`, built on first need.

        The connection record is noted as a user of that pool; the pool it used
        before (its record changed) is closed once no record uses it.
        """
        with self._lock:
            pool = self._pools.get(identity)
        if pool is None:
            built = build()  # no connection opened: the gate's first use does
            with self._lock:
                pool = self._pools.get(identity)
                if pool is None:
                    pool = self._pools[identity] = _Pool(built)
                    self._engines.add(built)
                    logger.info("target pool opened connection=%s", connection_id)
                else:
                    built.dispose()  # another thread built one meanwhile
        retired: list[_Pool] = []
        with self._lock:
            previous = self._identity_of.get(connection_id)
            if previous != identity:
                if previous is not None:
                    retired.extend(self._unlink(connection_id, previous))
                self._identity_of[connection_id] = identity
            pool.connection_ids.add(connection_id)
        for old in retired:
            self._close(old, reason="its connection changed")
        self._reaper_ensure()
        return pool.engine

    def is_current(self, engine: Engine) -> bool:
        """Return whether `engine` is a pool in use (not closed or replaced)."""
        with self._lock:
            return engine in self._engines

    def release(self, connection_id: int) -> None:
        """Forget a connection record (deleted): its pool closes if no other
        record uses it."""
        with self._lock:
            identity = self._identity_of.pop(connection_id, None)
            retired = (
                self._unlink(connection_id, identity) if identity is not None else []
            )
        for old in retired:
            self._close(old, reason="its connection was removed")

    def _unlink(self, connection_id: int, identity: Hashable) -> list[_Pool]:
        pool = self._pools.get(identity)
        if pool is None:
            return []
        pool.connection_ids.discard(connection_id)
        if pool.connection_ids:
            return []
        del self._pools[identity]
        self._engines.discard(pool.engine)
        return [pool]

    def idle_close(self, *, idle_s: float | None = None) -> int:
        """Close connections idle for `idle_s` (TARGET_DB_IDLE_TIMEOUT_S) or more,
        and drop pools unused for ENGINE_CACHE_IDLE_TIMEOUT_S; return how many
        connections were closed."""
        if idle_s is None:
            idle_s = settings.TARGET_DB_IDLE_TIMEOUT_S
        with self._lock:
            pools = list(self._pools.items())
        closed = 0
        unused: list[_Pool] = []
        now = time.monotonic()
        for identity, pool in pools:
            queue_pool = pool.engine.pool
            close_idle = getattr(queue_pool, "close_idle", None)
            if close_idle is None:
                continue
            closed += close_idle(idle_s)
            if (
                queue_pool.checkedout() == 0  # type: ignore[attr-defined]
                and now - getattr(queue_pool, "last_used", now)
                >= settings.ENGINE_CACHE_IDLE_TIMEOUT_S
            ):
                with self._lock:
                    if self._pools.get(identity) is pool:
                        del self._pools[identity]
                        self._engines.discard(pool.engine)
                        for connection_id in pool.connection_ids:
                            self._identity_of.pop(connection_id, None)
                        unused.append(pool)
        for pool in unused:
            self._close(pool, reason="unused")
        closed += self._retired_close()
        if closed:
            logger.info("target pools closed %d idle connections", closed)
        return closed

    def _retired_close(self) -> int:
        """Close what closed engines opened since; forget those left empty."""
        with self._lock:
            retired = list(self._retired)
        closed = 0
        done = []
        for engine in retired:
            queue_pool = engine.pool
            close_idle = getattr(queue_pool, "close_idle", None)
            if close_idle is not None:
                closed += close_idle(0)
            if queue_pool.checkedout() == 0:  # type: ignore[attr-defined]
                done.append(engine)
        with self._lock:
            self._retired = [e for e in self._retired if e not in done]
        return closed

    def close_all(self) -> None:
        """Close every pool (tests, and a process shutting its pools down)."""
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
            self._engines.clear()
            self._identity_of.clear()
        for pool in pools:
            self._close(pool, reason="closing all")

    def __len__(self) -> int:
        with self._lock:
            return len(self._pools)

    def _close(self, pool: _Pool, *, reason: str) -> None:
        # Idle connections close now, one in use when it is given back. A
        # session still holding this engine finds it replaced at its next
        # request; what it opens meanwhile the reaper closes once idle.
        old = pool.engine.pool
        pool.engine.dispose()
        retire = getattr(old, "retire", None)
        if retire is not None:
            retire()
        with self._lock:
            self._retired.append(pool.engine)
        logger.info("target pool closed (%s)", reason)

    def _reaper_ensure(self) -> None:
        """Start this process's reaper thread once (again in a forked worker)."""
        pid = os.getpid()
        if self._reaper_pid == pid:
            return
        with self._lock:
            if self._reaper_pid == pid:
                return
            self._reaper_pid = pid
        threading.Thread(
            target=self._reap_forever, name="target-pool-reaper", daemon=True
        ).start()

    def _reap_forever(self) -> None:
        while True:
            time.sleep(min(max(settings.TARGET_DB_IDLE_TIMEOUT_S / 4, 0.25), 5.0))
            try:
                self.idle_close()
            except Exception:  # the reaper must outlive any one failure
                logger.exception("closing idle target connections failed")


target_pools = TargetPools()
