"""Signals the connections app listens to, so teams never imports it."""

from __future__ import annotations

from django.dispatch import Signal

# Sent with `team_id` and `user_id` when a member leaves or is removed: their
# sessions on the team's connections must lose their database at once.
membership_ended = Signal()
# Sent with `team_id` before a team (and with it its connections) is deleted.
team_deleting = Signal()
