"""A narrow seam through which other apps add knowledge to a question's prompt.

The agent never imports those apps: they register a provider here (in their
AppConfig.ready) and the runner asks every provider once per question.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.catalog import SchemaCatalog
from agent.tokens import schema_token_budget
from sqlagent_project.capacity import app_database_hand_back

logger = logging.getLogger("agent.context")


@dataclass(frozen=True)
class QuestionContext:
    """What a provider adds: text for the prompt and tables ranked by relevance."""

    text: str = ""
    tables: list[str] = field(default_factory=list)
    # Why a table is ranked, when the provider says ("a value the question
    # names"); the others are "retrieved".
    why: dict[str, str] = field(default_factory=dict)


ContextProvider = Callable[..., QuestionContext]
_providers: list[ContextProvider] = []


def context_provider_register(provider: ContextProvider) -> None:
    """Register `provider(connection_id=, question=, table_names=,
    schema_inlined=, table_columns=)`, once; `schema_inlined` says the whole
    schema is already in the prompt, so ranked tables only matter for the
    knowledge they bring; `table_columns()` returns every table's column names
    (read in bulk the first time: call it only to rank tables)."""
    if provider not in _providers:
        _providers.append(provider)


def question_context(
    *, connection_id: int, question: str, catalog: SchemaCatalog
) -> QuestionContext:
    """Return every provider's text joined and their ranked tables merged."""
    texts: list[str] = []
    tables: list[str] = []
    why: dict[str, str] = {}
    inlined = catalog.prompt(token_budget=schema_token_budget()).inlined
    for provider in _providers:
        found = provider(
            connection_id=connection_id,
            question=question,
            table_names=catalog.table_names(),
            schema_inlined=inlined,
            table_columns=catalog.columns_all,
        )
        if found.text:
            texts.append(found.text)
        tables.extend(t for t in found.tables if t not in tables)
        for table, reason in found.why.items():
            why.setdefault(table, reason)
    if _providers:
        # Providers read the app database: hand its connection back before
        # the model is called, as the ask did before calling us.
        app_database_hand_back()
    return QuestionContext(text="\n\n".join(texts), tables=tables, why=why)
