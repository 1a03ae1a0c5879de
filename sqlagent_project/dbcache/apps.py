"""App config: register the deploy check of the shared cache."""

from __future__ import annotations

from django.apps import AppConfig


class DbCacheConfig(AppConfig):
    """Own the database cache table and the check that the cache answers."""

    name = "sqlagent_project.dbcache"
    label = "dbcache"
    verbose_name = "Shared cache"

    def ready(self) -> None:
        from sqlagent_project.dbcache import checks  # noqa: F401  (registers it)
