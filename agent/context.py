"""A narrow seam through which other apps add knowledge to a question's prompt.

The agent never imports those apps: they register a provider here (in their
AppConfig.ready) and the runner asks every provider once per question.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from langchain_core.messages import BaseMessage, HumanMessage

from agent.catalog import SchemaCatalog
from agent.schema_linking import brief_description, is_brief, tables_to_describe
from agent.tokens import count_tokens, schema_token_budget
from sqlagent_project.capacity import app_database_released

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
        with app_database_released():
            pass
    return QuestionContext(text="\n\n".join(texts), tables=tables, why=why)


@dataclass(frozen=True)
class PreparedContext:
    """The knowledge message sent before the question, and which tables it
    describes and why ([{table, why}], in the order described)."""

    messages: list[BaseMessage]
    described: list[dict[str, str]] = field(default_factory=list)
    # What the described tables cost of the request (count_tokens).
    schema_tokens: int = 0


def question_context_messages(
    *, connection_id: int, question: str, catalog: SchemaCatalog
) -> list[BaseMessage]:
    """Return the knowledge message sent before the question, or nothing."""
    return question_context_prepare(
        connection_id=connection_id, question=question, catalog=catalog
    ).messages


def question_context_prepare(
    *, connection_id: int, question: str, catalog: SchemaCatalog
) -> PreparedContext:
    """Return the knowledge message sent before the question and what it describes.

    On a schema too big for the prompt, the tables the question names, then the
    retrieved ones, are described up front (within half the schema budget), so a
    typical question costs no describe_tables call.
    """
    context = question_context(
        connection_id=connection_id, question=question, catalog=catalog
    )
    parts = [context.text] if context.text else []
    budget = schema_token_budget()
    linked: list[dict[str, str]] = []
    used = 0
    if not catalog.prompt(token_budget=budget).inlined:
        candidates = catalog.tables_named_in(question)
        described: list[str] = []
        # The ranked tables, then the tables they reference (dimensions).
        named = set(candidates)
        candidates += [t for t in context.tables if t not in named]
        reasons_of = {
            t: "named in the question"
            if t in named
            else context.why.get(t, "retrieved")
            for t in candidates
        }
        chosen = tables_to_describe(
            catalog, candidates, top_k=settings.KNOWLEDGE_TOP_K_TABLES, why=reasons_of
        )
        for table, why in chosen:
            text = (
                brief_description(catalog, table, why)
                if is_brief(why)
                else catalog.describe([table])
            )
            cost = count_tokens(text)
            if used + cost > budget // 2:
                continue
            described.append(text)
            linked.append({"table": table, "why": why})
            used += cost
        if linked:
            # Which tables the first request describes, and why (schema linking).
            logger.info(
                "question context described=%s tokens=%d",
                ", ".join(f"{d['table']} ({d['why']})" for d in linked),
                used,
            )
        if described:
            parts.append(
                "The tables most relevant to my next question (others: use "
                "describe_tables):\n" + "\n\n".join(described)
            )
    if not parts:
        return PreparedContext(messages=[])
    message = HumanMessage("For reference before my question:\n\n" + "\n\n".join(parts))
    return PreparedContext(messages=[message], described=linked, schema_tokens=used)
