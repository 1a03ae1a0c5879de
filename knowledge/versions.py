"""The marker that says a connection's knowledge changed, and its per-connection lock.

Every write to examples, instructions or descriptions replaces the marker (the
model signals catch the ORM's saves and deletes, the admin's and cascades
included; bulk writes call `knowledge_changed` themselves). Retrieval compares
the marker before each question and rebuilds its index only when it differs.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from knowledge.models import Example, Instruction, KnowledgeVersion, SchemaNote

# Saves that touch only these fields change nothing retrieval reads (a Check).
_UNINDEXED_FIELDS = frozenset({"checked_at", "last_check_ok", "last_check_error"})


def _token() -> str:
    return secrets.token_hex(16)


def knowledge_version_read(connection_id: int) -> str:
    """Return the connection's knowledge marker (one indexed row), made if missing."""
    token = (
        KnowledgeVersion.objects.filter(connection_id=connection_id)
        .values_list("token", flat=True)
        .first()
    )
    if token is not None:
        return token
    return _version_get_or_create(connection_id).token


def _version_get_or_create(connection_id: int) -> KnowledgeVersion:
    try:
        with transaction.atomic():
            version, _ = KnowledgeVersion.objects.get_or_create(
                connection_id=connection_id, defaults={"token": _token()}
            )
    except IntegrityError:
        # Made at the same time by another request.
        version = KnowledgeVersion.objects.get(connection_id=connection_id)
    return version


def knowledge_changed(connection_id: int, *, create: bool = True) -> None:
    """Replace the marker: every process rebuilds its index at its next question.

    `create=False` only updates an existing marker (a delete, which may be part
    of deleting the connection itself: no row may be added to it then).
    """
    updated = KnowledgeVersion.objects.filter(connection_id=connection_id).update(
        token=_token()
    )
    if not updated and create:
        _version_get_or_create(connection_id)


def knowledge_lock(connection_id: int) -> None:
    """Hold the connection's marker row until the transaction ends.

    Writes that check a cap first take it, so two at once cannot both fit.
    Call inside `transaction.atomic()`.
    """
    _version_get_or_create(connection_id)
    # The locked row itself is not needed: the lock is.
    list(
        KnowledgeVersion.objects.select_for_update()
        .filter(connection_id=connection_id)
        .values_list("token", flat=True)
    )


@receiver(post_save, sender=Example)
@receiver(post_save, sender=Instruction)
@receiver(post_save, sender=SchemaNote)
def _saved(
    sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any
) -> None:
    if update_fields is not None and set(update_fields) <= _UNINDEXED_FIELDS:
        return
    knowledge_changed(instance.connection_id)


@receiver(post_delete, sender=Example)
@receiver(post_delete, sender=Instruction)
@receiver(post_delete, sender=SchemaNote)
def _deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    knowledge_changed(instance.connection_id, create=False)
