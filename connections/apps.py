from __future__ import annotations

from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from connections import (
            checks,  # noqa: F401  (registers it)
            receivers,  # noqa: F401  (connects them)
        )
