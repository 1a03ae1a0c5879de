from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_delete


class ConnectionsConfig(AppConfig):
    name = "connections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from connections import (
            checks,  # noqa: F401  (registers it)
            receivers,  # noqa: F401  (connects them)
        )
        from connections.models import DatabaseConnection
        from connections.pools import target_pools

        def _pool_release(sender: Any, instance: DatabaseConnection, **_: Any) -> None:
            # However the record goes (API, page, admin, a team deleted): its
            # database's pool closes in this process if no other record uses it.
            target_pools.release(instance.pk)

        post_delete.connect(
            _pool_release,
            sender=DatabaseConnection,
            dispatch_uid="connections.pools.release",
            weak=False,
        )
