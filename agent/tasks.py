"""The sweep of turns left running, on the queue (beat runs it every minute)."""

from __future__ import annotations

from celery import shared_task

from agent.orphans import turns_fail_orphaned


@shared_task(name="agent.turns_fail_orphaned", acks_late=True)
def turns_fail_orphaned_task() -> int:
    """Close turns left running by a worker that died; return how many."""
    return turns_fail_orphaned()
