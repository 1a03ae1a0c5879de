"""Signals the agent app listens to, so connections never imports it."""

from __future__ import annotations

from django.dispatch import Signal

# Sent with `session_id` when a session's database binding ends or changes:
# whoever caches resources for that session must drop them.
session_released = Signal()
