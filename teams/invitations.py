"""The email that tells someone without an account that a team invited them.

The invitation is recorded first and stands whatever the mail server does: a
failure only means the admin tells them another way (the API says
`"emailed": false`, the page says so too). The email holds who invited them,
to which team and role, and the sign-up link; nothing else (no token, no
secret: signing up with that address is what honours it).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import send_mail

from teams.models import Invitation, TeamRole

logger = logging.getLogger(__name__)


def _one_line(text: str) -> str:
    # A team's name is anyone's text: never a second header line in a subject.
    return " ".join(text.split())


def invitation_signup_url(*, invitation: Invitation) -> str:
    """Return the absolute sign-up link for the invited address (SITE_URL)."""
    query = urlencode({"email": invitation.email})
    return f"{settings.SITE_URL}/accounts/signup/?{query}"


def invitation_email_send(*, invitation: Invitation) -> bool:
    """Email the invited address; return whether the mail server took it."""
    team = _one_line(invitation.team.name)
    inviter = invitation.invited_by
    who = "A team admin"
    if inviter is not None:
        name = _one_line(inviter.name)
        who = f"{name} ({inviter.email})" if name else inviter.email
    # "Analyst: asks, runs SQL, proposes examples" -> the part after the name.
    what = TeamRole(invitation.role).label.partition(": ")[2]
    text = (
        f"{who} invited you to the team “{team}” on SQLAgent with the role "
        f"{invitation.role} ({what}).\n\n"
        f"Sign up with this email address ({invitation.email}) to join:\n"
        f"{invitation_signup_url(invitation=invitation)}\n\n"
        "If you did not expect this, ignore this email: nothing happens unless "
        "you sign up."
    )
    try:
        send_mail(
            subject=f"You are invited to the team “{team}” on SQLAgent",
            message=text,
            from_email=None,
            recipient_list=[invitation.email],
        )
    except Exception as exc:
        # The class only: a server's reply may echo credentials or addresses.
        logger.warning(
            "invitation email not sent id=%s team=%s error=%s",
            invitation.pk,
            invitation.team_id,
            type(exc).__name__,
        )
        return False
    logger.info("invitation emailed id=%s team=%s", invitation.pk, invitation.team_id)
    return True
