"""Grounded answers: an answer with no successful query behind it says so, and the
model is first nudged once to query the database before answering without data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# Questions that need no data: greetings, thanks, goodbyes.
_SMALL_TALK = re.compile(
    r"^\W*(hi|hello|hey|good (morning|afternoon|evening)|thanks?|thank you|"
    r"bye|goodbye|ok(ay)?|cheers)\b[\w\s!.,?']{0,30}$",
    re.IGNORECASE,
)

NUDGE = (
    "You answered without running any query. If my question needs data from "
    "the database, call run_query now and answer only from its rows. If it "
    "needs no data, repeat your answer."
)


def is_grounded(queries: Sequence[dict[str, Any]]) -> bool:
    """Return whether at least one query of the run succeeded."""
    return any(q.get("sql") and not q.get("error") for q in queries)


def grounding_nudge(
    *,
    question: str,
    queries: Sequence[dict[str, Any]],
    has_history: bool,
    used_tools: bool = False,
) -> str | None:
    """Return the nudge to send once, or None when the answer may stand.

    Small talk needs no data, and a follow-up may rest on earlier turns' rows.
    A model that used a tool (looked at the schema, or tried a query that was
    refused or failed) was not skipping the database: its answer stands, marked
    ungrounded when no query succeeded.
    """
    if queries or used_tools or has_history or _SMALL_TALK.match(question.strip()):
        return None
    return NUDGE
