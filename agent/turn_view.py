"""A turn as its clients see it: the API, the MCP tools and the pages all render
this one view, so a value shows the same wherever a turn is read."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.models import Turn, TurnOutcome, TurnSource, TurnStatus


@dataclass(frozen=True)
class TurnView(TurnOutcome):
    """What answering produced (every TurnOutcome field) plus the turn's own
    fields. Each field is the Turn field of the same name, so a new outcome field
    reaches every rendering with no edit here."""

    id: int | None = None
    thread_id: uuid.UUID | None = None
    question: str = ""
    source: str = TurnSource.ASK
    status: str = TurnStatus.RUNNING
    error: str = ""
    error_code: str = ""
    duration_ms: float | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def of(cls, turn: Turn) -> TurnView:
        """Return the view of a stored (or just finished) turn."""
        return cls(**{f.name: getattr(turn, f.name) for f in dataclasses.fields(cls)})

    @property
    def sql(self) -> list[str]:
        """Return the SQL that ran, in order; refused and failed queries left out."""
        return [
            str(query["sql"])
            for query in self.queries or []
            if query.get("sql") is not None and not query.get("error")
        ]

    def public(self) -> dict[str, Any]:
        """Return the values every client is shown of this turn, by the names the
        API and the MCP tools give them. Rows are as stored: a client with a
        narrower view (an AI client under a privacy tier) narrows them itself."""
        result = self.result or {}
        row_count = result.get("row_count", 0)
        return {
            "turn_id": self.id,
            "thread_id": None if self.thread_id is None else str(self.thread_id),
            "question": self.question,
            "answer": self.answer,
            "status": self.status,
            "sql": self.sql,
            "columns": [
                None if column is None else str(column)
                for column in result.get("columns") or []
            ],
            "rows": [
                None if row is None else list(row) for row in result.get("rows") or []
            ],
            "row_count": None if row_count is None else int(row_count),
            "truncated": bool(result.get("truncated")),
            "chart": self.chart,
            "grounded": bool(self.grounded),
            "cut_off": bool(self.cut_off),
        }
