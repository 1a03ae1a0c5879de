"""The agent's work on the queue: the sweep of turns left running (beat runs it
every minute) and the build of a big database's shared schema catalog."""

from __future__ import annotations

from celery import shared_task

from agent.catalog_store import catalog_build, catalog_key
from agent.orphans import turns_fail_orphaned
from connections.models import DatabaseConnection


@shared_task(name="agent.turns_fail_orphaned", acks_late=True)
def turns_fail_orphaned_task() -> int:
    """Close turns left running by a worker that died; return how many."""
    return turns_fail_orphaned()


@shared_task(name="agent.catalog_build", acks_late=True)
def catalog_build_task(*, connection_id: int, key: str) -> dict[str, object]:
    """Read and share a connection's catalog for the version `key` names;
    nothing for a version gone since (or a catalog already shared)."""
    connection = DatabaseConnection.objects.filter(pk=connection_id).first()
    if connection is None or catalog_key(connection) != key:
        return {"connection_id": connection_id, "skipped": True}
    return {
        "connection_id": connection_id,
        "built": catalog_build(connection=connection),
    }
