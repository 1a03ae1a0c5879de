"""SQLAgent's Django project; the Celery app loads with Django so `shared_task`
tasks bind to it (`celery -A sqlagent_project worker`)."""

from sqlagent_project.celery import app as celery_app

__all__ = ["celery_app"]
