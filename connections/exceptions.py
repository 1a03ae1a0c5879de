from __future__ import annotations

from sqlagent_project.errors import ApplicationError


class TargetDatabaseUnavailable(ApplicationError):
    """The user's database could not be reached or refused the credentials."""

    status_code = 502
    code = "database_unavailable"
    default_message = "The database could not be reached."


class PrivilegedConnectionRefused(ApplicationError):
    """The role can write or reach server files, and policy refuses it."""

    status_code = 403
    code = "privileged_role_refused"
    default_message = "This database role has more than read rights."
