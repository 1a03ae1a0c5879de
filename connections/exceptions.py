from __future__ import annotations

from sqlagent_project.errors import ApplicationError


class TargetDatabaseUnavailable(ApplicationError):
    """The user's database failed: unreachable, refused the credentials, or lost."""

    status_code = 502
    code = "database_unavailable"
    default_message = "The database could not be reached."


class TargetDatabaseBusy(ApplicationError):
    """Every connection to the user's database is in use; try again shortly."""

    status_code = 503
    code = "database_busy"
    default_message = "All connections to the database are busy; try again shortly."
    retry_after = 5


class PrivilegedConnectionRefused(ApplicationError):
    """The role can write or reach server files, and policy refuses it."""

    status_code = 403
    code = "privileged_role_refused"
    default_message = "This database role has more than read rights."


class ConnectionOwnerRequired(ApplicationError):
    """Only its owner may make a team connection personal again."""

    status_code = 403
    code = "owner_required"
    default_message = (
        "Only the connection's owner can make it personal again (a personal "
        "connection is its owner's alone); move it to another of your teams "
        "instead."
    )
