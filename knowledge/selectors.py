"""Reads on knowledge, always scoped to the owner of the connection."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User
from knowledge.models import (
    EvaluationRun,
    Example,
    GoldenSet,
    Instruction,
    SchemaNote,
)


def note_list_for_user(*, user: User, connection_id: int) -> QuerySet[SchemaNote]:
    return SchemaNote.objects.filter(
        connection_id=connection_id, connection__owner=user
    )


def instruction_list_for_user(
    *, user: User, connection_id: int
) -> QuerySet[Instruction]:
    return Instruction.objects.filter(
        connection_id=connection_id, connection__owner=user
    )


def example_list_for_user(*, user: User, connection_id: int) -> QuerySet[Example]:
    return Example.objects.filter(connection_id=connection_id, connection__owner=user)


def golden_set_list_for_user(*, user: User, connection_id: int) -> QuerySet[GoldenSet]:
    return GoldenSet.objects.filter(connection_id=connection_id, connection__owner=user)


def run_list_for_user(*, user: User, connection_id: int) -> QuerySet[EvaluationRun]:
    return EvaluationRun.objects.filter(
        connection_id=connection_id, connection__owner=user
    )


def run_get_for_user(*, user: User, connection_id: int, run_id: int) -> EvaluationRun:
    """Return one of the user's runs; anyone else's is a 404."""
    return get_object_or_404(
        run_list_for_user(user=user, connection_id=connection_id), pk=run_id
    )


def object_get_for_user(queryset: QuerySet, *, object_id: int) -> object:
    """Return one object of an owner-scoped queryset; anything else is a 404."""
    return get_object_or_404(queryset, pk=object_id)
