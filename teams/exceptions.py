from __future__ import annotations

from django.core.exceptions import PermissionDenied

from sqlagent_project.errors import ApplicationError


class TeamRoleRequired(ApplicationError, PermissionDenied):
    """The caller is a member, but their role does not allow this (pages: 403)."""

    status_code = 403
    code = "team_role_required"
    default_message = "Your role in this team does not allow this."


class LastAdmin(ApplicationError):
    """The change would leave a team without an admin."""

    status_code = 400
    code = "last_admin"
    default_message = (
        "A team keeps at least one admin; make another member admin first."
    )


class AlreadyMember(ApplicationError):
    """The email belongs to a member already."""

    status_code = 400
    code = "already_member"
    default_message = "This user is already a member of the team."
