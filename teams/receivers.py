"""A user registering with an invited email joins those teams at once."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import User
from teams.services import invitations_accept


@receiver(post_save, sender=User, dispatch_uid="teams_invitations_accept")
def _accept_invitations(sender: Any, instance: User, created: bool, **_: Any) -> None:
    if created:
        invitations_accept(user=instance)
