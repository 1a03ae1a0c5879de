"""Reads on knowledge, scoped to who reaches the connection (its owner, or the
members of its team); what they may change is checked on the connection."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User
from connections.selectors import connection_reachable_q
from knowledge.models import (
    EvaluationRun,
    Example,
    GoldenQuestion,
    GoldenSet,
    Instruction,
    RunStatus,
    SchemaNote,
)


def _reachable(user: User) -> Q:
    # The connection's owner, or a member of its team.
    return connection_reachable_q(user=user, via="connection__")


def note_list_for_user(*, user: User, connection_id: int) -> QuerySet[SchemaNote]:
    """Return the descriptions of the user's connection."""
    return SchemaNote.objects.filter(_reachable(user), connection_id=connection_id)


def note_get_for_user(*, user: User, connection_id: int, note_id: int) -> SchemaNote:
    """Return one of the user's descriptions; anyone else's is a 404."""
    return get_object_or_404(
        note_list_for_user(user=user, connection_id=connection_id), pk=note_id
    )


def instruction_list_for_user(
    *, user: User, connection_id: int
) -> QuerySet[Instruction]:
    """Return the instructions of the user's connection."""
    return Instruction.objects.filter(_reachable(user), connection_id=connection_id)


def instruction_get_for_user(
    *, user: User, connection_id: int, instruction_id: int
) -> Instruction:
    """Return one of the user's instructions; anyone else's is a 404."""
    return get_object_or_404(
        instruction_list_for_user(user=user, connection_id=connection_id),
        pk=instruction_id,
    )


def example_list_for_user(*, user: User, connection_id: int) -> QuerySet[Example]:
    """Return the verified examples of the user's connection."""
    return Example.objects.filter(_reachable(user), connection_id=connection_id)


def example_get_for_user(*, user: User, connection_id: int, example_id: int) -> Example:
    """Return one of the user's verified examples; anyone else's is a 404."""
    # The connection comes along: saving and checking the example both need it.
    return get_object_or_404(
        example_list_for_user(user=user, connection_id=connection_id).select_related(
            "connection"
        ),
        pk=example_id,
    )


def golden_set_list_for_user(*, user: User, connection_id: int) -> QuerySet[GoldenSet]:
    """Return the golden sets of the user's connection, each with `item_count`."""
    return GoldenSet.objects.filter(
        _reachable(user), connection_id=connection_id
    ).annotate(item_count=Count("questions"))


def golden_set_get_for_user(
    *, user: User, connection_id: int, golden_set_id: int
) -> GoldenSet:
    """Return one of the user's golden sets; anyone else's is a 404."""
    return get_object_or_404(
        golden_set_list_for_user(user=user, connection_id=connection_id),
        pk=golden_set_id,
    )


def golden_question_get_for_user(
    *, user: User, connection_id: int, question_id: int
) -> GoldenQuestion:
    """Return one question of the user's golden sets; anyone else's is a 404."""
    return get_object_or_404(
        GoldenQuestion.objects.filter(
            golden_set__connection_id=connection_id,
            golden_set__connection__owner=user,
        ),
        pk=question_id,
    )


def run_list_for_user(*, user: User, connection_id: int) -> QuerySet[EvaluationRun]:
    """Return the evaluation runs of the user's connection, newest first."""
    return EvaluationRun.objects.filter(_reachable(user), connection_id=connection_id)


def run_get_for_user(*, user: User, connection_id: int, run_id: int) -> EvaluationRun:
    """Return one of the user's runs; anyone else's is a 404."""
    return get_object_or_404(
        run_list_for_user(user=user, connection_id=connection_id), pk=run_id
    )


def object_get_for_user(queryset: QuerySet, *, object_id: int) -> object:
    """Return one object of an owner-scoped queryset; anything else is a 404."""
    return get_object_or_404(queryset, pk=object_id)


def previous_run(run: EvaluationRun) -> EvaluationRun | None:
    """Return the last finished run on the same set before this one (an
    incomplete one too: its accuracy is over the questions it answered)."""
    return (
        EvaluationRun.objects.filter(
            connection_id=run.connection_id,
            set_name=run.set_name,
            status__in=[RunStatus.DONE, RunStatus.INCOMPLETE],
            pk__lt=run.pk,
        )
        .order_by("-pk")
        .first()
    )
