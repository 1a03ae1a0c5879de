"""WSGI entry point (production: see `sqlagent_project/gunicorn.conf.py`)."""

from __future__ import annotations

import logging
import os

from django.core.wsgi import get_wsgi_application
from django.db import DatabaseError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sqlagent_project.settings")

application = get_wsgi_application()


def _turns_recover() -> None:
    # A restarted service closes at once the turns its killed workers left
    # running. Best effort: the app database may not be up yet.
    from agent.orphans import turns_fail_orphaned

    try:
        turns_fail_orphaned()
    except DatabaseError:
        logging.getLogger(__name__).warning(
            "could not close interrupted turns at start", exc_info=True
        )
    finally:
        # With a preloaded app this runs in the gunicorn master: forked workers
        # must not share its database connection (nor its connection pool).
        from sqlagent_project.capacity import app_database_pools_close

        app_database_pools_close()


_turns_recover()
