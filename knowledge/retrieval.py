"""Lexical retrieval (BM25) of a connection's knowledge for one question.

No network and no model: the index (`knowledge.index`) is built from the app
database, once per change of the knowledge, so it works the same on a SQLite
or PostgreSQL app database. What is retrieved: the top examples (question +
SQL, the strongest hint of how this database is queried), the top instructions
(business rules and glossary), and tables ranked by their name, the
descriptions written for them and their columns, and the examples whose SQL
uses them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar

import numpy as np
from django.conf import settings

from agent.context import QuestionContext
from agent.schema_linking import variant_base
from knowledge.index import KnowledgeIndex, _stem, index_cache, normalize, tokenize
from knowledge.models import Example, Instruction, SchemaNote

__all__ = ["normalize", "tokenize"]

# Questions (normalized) whose examples must not be shown: set while evaluating.
_excluded_questions: ContextVar[frozenset[str]] = ContextVar(
    "knowledge_excluded_questions", default=frozenset()
)


@contextlib.contextmanager
def examples_excluded(questions: Sequence[str]) -> Iterator[None]:
    """Keep examples with these questions out of prompts (an evaluated set)."""
    token = _excluded_questions.set(frozenset(normalize(q) for q in questions))
    try:
        yield
    finally:
        _excluded_questions.reset(token)


def _in_order(model: type, ids: Sequence[int]) -> list:
    """Read these rows back by id, in this order (one deleted since is skipped)."""
    found = model.objects.in_bulk(list(ids))  # type: ignore[attr-defined]
    return [found[i] for i in ids if i in found]


def _not_excluded(index: KnowledgeIndex) -> Callable[[np.ndarray], np.ndarray] | None:
    """Return a filter of the evaluated set's examples, or None when none is set.

    They are left out of what is returned, not out of the index: the words'
    weights stay those of all the connection's examples.
    """
    excluded = _excluded_questions.get()
    if not excluded:
        return None
    keys = np.array([hash(q) for q in excluded], dtype=np.int64)
    return lambda positions: ~np.isin(index.example_keys[positions], keys)


def _examples_top(index: KnowledgeIndex, words: list[str], k: int) -> list[Example]:
    top = index.examples.top(words, k, keep=_not_excluded(index))
    return _in_order(Example, [int(index.example_ids[i]) for i in top])


def _instructions_top(
    index: KnowledgeIndex, words: list[str], k: int
) -> list[Instruction]:
    if len(index.instruction_ids) <= k:
        return _in_order(Instruction, index.instruction_ids)
    top = index.instructions.top(words, k)
    return _in_order(Instruction, [index.instruction_ids[i] for i in top])


# Words that name no table: ranked on, "the number of …" brings every
# `bill_of_material` of a big schema.
_STOP_WORDS = frozenset(
    tokenize(
        "a an and are as at be by can do does did each for from had has have how "
        "i in is it its me my of on or our per so than that the their them then "
        "there these they this those to us was we were what when where which who "
        "whom whose why will with you your all any give list show return find "
        # What is computed, not what it is computed from.
        "count number average avg sum many much top highest lowest most least "
        "ratio percentage "
        # How it is shown.
        "sorted descending ascending result please provide"
    )
)
# "Order the results by", "sorted by": how rows are shown, not which table
# (`purchase_order`); "orders by customer" still names orders.
_SHOWN_AS = re.compile(r"\b(?:order|sort)(?:ed)?\b(?=(?:\s+\w+){0,3}\s+by\b)", re.I)
# A question word this long also finds the table-name words it ends
# ("customer" finds `sbcustomer`), at most this many of them.
_PART_MIN_CHARS = 5
_PARTS_MAX = 10
# Candidates read past k, so that variants folded away leave k tables.
_VARIANT_POOL = 10


def _table_question_words(question: str) -> list[str]:
    """Return the question's words, without how its rows are to be shown."""
    return tokenize(_SHOWN_AS.sub(" ", question))


def _table_words(words: list[str], vocabulary: Sequence[str]) -> list[str]:
    """Return the question's words for ranking tables: no stop words, each with
    its stem and the name words it ends (compound names: `sbcustomer`)."""
    found: list[str] = []
    for word in words:
        if word in _STOP_WORDS:
            continue
        found.append(word)
        stem = _stem(word)
        if stem != word:
            found.append(stem)
        if len(word) >= _PART_MIN_CHARS:
            parts = [v for v in vocabulary if v.endswith(word) and v != word]
            found.extend(parts[:_PARTS_MAX])
    return found


def _tables_top(
    index: KnowledgeIndex,
    table_names: Sequence[str],
    words: list[str],
    k: int,
    columns: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Return the k best tables; a variant (`stg_x`, `x_archive`) stands for
    its table when the schema has it and the question does not ask for it."""
    names = tuple(table_names)
    ranker = index.tables(names, columns)
    query = _table_words(words, ranker.vocabulary)
    by_lower = {name.lower(): name for name in names}
    asked = set(query)
    kept: list[str] = []
    for i in ranker.top(query, k * _VARIANT_POOL):
        table = variant_base(names[i], by_lower, asked)
        if table not in kept:
            kept.append(table)
            if len(kept) == k:
                break
    return kept


def examples_ranked(
    *,
    connection_id: int,
    question: str,
    k: int,
) -> list[Example]:
    """Return the k examples most similar to the question (excluded ones left out)."""
    index = index_cache.get(connection_id)
    return _examples_top(index, tokenize(question), k)


def instructions_ranked(
    *,
    connection_id: int,
    question: str,
    k: int,
) -> list[Instruction]:
    """Return the instructions: all when they are few, else the k most relevant."""
    index = index_cache.get(connection_id)
    return _instructions_top(index, tokenize(question), k)


def tables_ranked(
    *,
    connection_id: int,
    question: str,
    table_names: Sequence[str],
    k: int,
) -> list[str]:
    """Return the k tables that best match the question by name, notes and examples."""
    index = index_cache.get(connection_id)
    return _tables_top(index, table_names, _table_question_words(question), k)


def knowledge_context(
    *,
    connection_id: int,
    question: str,
    table_names: Sequence[str],
    schema_inlined: bool = False,
    table_columns: Callable[[], Mapping[str, Sequence[str]]] | None = None,
) -> QuestionContext:
    """Return the retrieved knowledge as prompt text, and the tables ranked.

    The index is current as of one read of the knowledge marker; the texts of
    what is retrieved are read back by id. A connection with no knowledge
    whose whole schema is in the prompt gets nothing, without ranking.
    """
    index = index_cache.get(connection_id)
    if schema_inlined and index.empty:
        return QuestionContext()
    words = tokenize(question)
    parts: list[str] = []
    instructions = _instructions_top(
        index, words, settings.KNOWLEDGE_TOP_K_INSTRUCTIONS
    )
    if instructions:
        parts.append(
            "Rules and terms of this database (follow them):\n"
            + "\n".join(f"- {i.text}" for i in instructions)
        )
    examples = _examples_top(index, words, settings.KNOWLEDGE_TOP_K_EXAMPLES)
    if examples:
        shown = []
        for example in examples:
            note = f"\nNote: {example.instructions}" if example.instructions else ""
            shown.append(
                f"Question: {example.question}\n```sql\n{example.sql}\n```{note}"
            )
        parts.append(
            "Verified examples of questions answered on this database:\n\n"
            + "\n\n".join(shown)
        )
    # On a schema too big for the prompt, tables are ranked by their columns
    # too (read in bulk once per catalog); when it is inlined, by name and notes.
    columns = table_columns() if table_columns and not schema_inlined else None
    tables = _tables_top(
        index,
        table_names,
        _table_question_words(question),
        settings.KNOWLEDGE_TOP_K_TABLES,
        columns,
    )
    notes = _notes_for_tables(index, tables)
    if notes:
        parts.append("Descriptions of tables and columns:\n" + notes)
    return QuestionContext(text="\n\n".join(parts), tables=tables)


def _notes_for_tables(index: KnowledgeIndex, tables: Sequence[str]) -> str:
    """Return the descriptions written for these tables and their columns."""
    top = {t.lower() for t in tables}
    chosen = sorted(p for t in top for p in index.notes.get(t, []))[:50]
    lines = []
    for note in _in_order(SchemaNote, [pk for _, pk in chosen]):
        target = (
            f"{note.table_name}.{note.column_name}"
            if note.column_name
            else note.table_name
        )
        lines.append(f"- {target}: {note.description}")
    return "\n".join(lines)
