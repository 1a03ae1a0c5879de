"""How much knowledge one connection may keep, and the check every addition passes.

Each kind has a cap (settings KNOWLEDGE_MAX_EXAMPLES, _INSTRUCTIONS,
_DESCRIPTIONS): what is retrieved for a question is read and indexed from all
of it, so it must stay bounded. An addition that would go past the cap is
refused whole, never cut to fit, and the count is taken under the connection's
lock so two additions at once cannot both slip in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Model

from knowledge.exceptions import KnowledgeLimitReached
from knowledge.models import Example, Instruction, SchemaNote
from knowledge.versions import knowledge_lock

# The longest texts an example may hold, on every way in (API, forms, imports).
QUESTION_MAX_CHARS = 2000
SQL_MAX_CHARS = 20000
INSTRUCTIONS_MAX_CHARS = 2000


@dataclass(frozen=True)
class Kind:
    model: type[Model]
    setting: str
    noun: str


EXAMPLES = Kind(Example, "KNOWLEDGE_MAX_EXAMPLES", "verified examples")
INSTRUCTIONS = Kind(Instruction, "KNOWLEDGE_MAX_INSTRUCTIONS", "instructions")
DESCRIPTIONS = Kind(SchemaNote, "KNOWLEDGE_MAX_DESCRIPTIONS", "descriptions")


def knowledge_room_check(*, connection_id: int, kind: Kind, adding: int = 1) -> None:
    """Raise KnowledgeLimitReached unless `adding` more of `kind` fit under its cap.

    Call under `knowledge_lock` (see `knowledge_room`) for the count to hold.
    """
    limit: int = getattr(settings, kind.setting)
    have = kind.model.objects.filter(connection_id=connection_id).count()  # type: ignore[attr-defined]
    if have + adding <= limit:
        return
    if adding == 1:
        raise KnowledgeLimitReached(
            f"This connection already has {have:,} {kind.noun}, the most it may "
            f"keep ({limit:,}): delete some before adding more."
        )
    room = max(limit - have, 0)
    raise KnowledgeLimitReached(
        f"This would add {adding:,} {kind.noun}, but this connection has room for "
        f"{room:,} more (at most {limit:,}): nothing was added."
    )


@contextlib.contextmanager
def knowledge_room(
    *, connection_id: int, kind: Kind, adding: int = 1
) -> Iterator[None]:
    """Run the block in a transaction, once `adding` more of `kind` are known to fit."""
    with transaction.atomic():
        knowledge_lock(connection_id)
        knowledge_room_check(connection_id=connection_id, kind=kind, adding=adding)
        yield
