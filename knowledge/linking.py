"""Schema linking measured on a golden set: per question, the tables its gold
SQL reads, the tables the first model request describes (and why), and the
gold tables it misses, so an admin sees which descriptions to add.

No model is called: the first request's knowledge message is built by the
agent's own path (`question_context_prepare`), as an ask would build it.
"""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp

from agent.llm.prompt import question_context_prepare
from agent.querying import catalog_get
from agent.sql_guard.dialect import dialect_for
from agent.tokens import schema_token_budget
from connections.models import DatabaseConnection

# What a question "describes" when the whole schema is in the system prompt.
WHOLE_SCHEMA = {"table": "*", "why": "the whole schema is in the prompt"}


def gold_tables(sql: str, *, db_type: str) -> list[str]:
    """Return the tables a SQL reads (CTE names left out), lowercased and
    sorted; none when it cannot be parsed."""
    try:
        trees = sqlglot.parse(sql, read=dialect_for(db_type).sqlglot)
    except sqlglot.errors.SqlglotError:
        return []
    found: set[str] = set()
    for tree in trees:
        if tree is None:
            continue
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        found |= {
            t.name.lower()
            for t in tree.find_all(exp.Table)
            if t.name and t.name.lower() not in ctes
        }
    return sorted(found)


def tables_missed(gold: list[str], described: list[dict[str, str]]) -> list[str]:
    """Return the gold tables the first request did not describe."""
    if WHOLE_SCHEMA in described:
        return []
    shown = {d["table"].lower() for d in described}
    return [t for t in gold if t not in shown]


def result_linking_record(
    result: Any, *, sql: str, session_engine: Any, described: list[dict[str, str]]
) -> None:
    """Set an evaluation result's gold, described and missed tables."""
    result.gold_tables = gold_tables(sql, db_type=session_engine.db_type)
    catalog = catalog_get(session_engine)
    inlined = catalog.prompt(token_budget=schema_token_budget()).inlined
    result.described_tables = [WHOLE_SCHEMA] if inlined else list(described)
    result.missed_tables = tables_missed(result.gold_tables, result.described_tables)


def first_request_tables(
    *, connection: DatabaseConnection, catalog: Any, question: str
) -> list[dict[str, str]]:
    """Return the tables the first request for `question` describes, and why."""
    if catalog.prompt(token_budget=schema_token_budget()).inlined:
        return [WHOLE_SCHEMA]
    prepared = question_context_prepare(
        connection_id=connection.pk, question=question, catalog=catalog
    )
    return prepared.described


def linking_report(
    *, connection: DatabaseConnection, items: list[Any], session_engine: Any
) -> dict[str, Any]:
    """Return, per golden item (question, sql), its gold, described and missed
    tables, and the share of questions with none missed."""
    from knowledge.retrieval import examples_excluded

    catalog = catalog_get(session_engine)
    rows: list[dict[str, Any]] = []
    with examples_excluded([item.question for item in items]):
        for position, item in enumerate(items, start=1):
            gold = gold_tables(item.sql, db_type=connection.db_type)
            described = first_request_tables(
                connection=connection, catalog=catalog, question=item.question
            )
            rows.append(
                {
                    "position": position,
                    "question": item.question,
                    "gold_tables": gold,
                    "described_tables": described,
                    "missed_tables": tables_missed(gold, described),
                }
            )
    linked = sum(not row["missed_tables"] for row in rows)
    return {
        "questions": len(rows),
        "all_gold_described": linked,
        "recall": linked / len(rows) if rows else None,
        "items": rows,
    }
