"""What the server engines share: URL, small pool, host pinning at connect."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Engine, event
from sqlalchemy.pool import NullPool, QueuePool

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


def pool_args(*, pooled: bool) -> dict[str, Any]:
    """Return small-pool arguments, or no pool for a one-off check."""
    from django.conf import settings

    if not pooled:
        return {"poolclass": NullPool}
    return {
        "poolclass": QueuePool,
        "pool_size": settings.TARGET_POOL_SIZE,
        "max_overflow": settings.TARGET_MAX_OVERFLOW,
        "pool_timeout": settings.TARGET_CONNECT_TIMEOUT_S,
        "pool_recycle": 1800,
        "pool_pre_ping": True,
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
