"""`manage.py check`: every registered engine backend loads and is complete."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register


@register()
def backends_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Report each DATABASE_BACKENDS entry that would be refused at use."""
    from connections.backends import UnknownDatabaseType, backend_for, registered

    errors = []
    for db_type in registered():
        try:
            backend_for(db_type)
        except UnknownDatabaseType as exc:
            errors.append(Error(str(exc), id="connections.E001"))
    return errors
