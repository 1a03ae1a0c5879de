"""Lexical retrieval (BM25) of a connection's knowledge for one question.

No network and no model: the index is built from the app database with the
`rank_bm25` library, so it works the same on a SQLite or PostgreSQL app
database. What is retrieved: the top examples (question + SQL, the strongest
hint of how this database is queried), the top instructions (business rules
and glossary), and tables ranked by their name, the descriptions written for
them and their columns, and the examples whose SQL uses them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar

from django.conf import settings
from django.db import connection as db_connection
from rank_bm25 import BM25Okapi

from agent.context import QuestionContext
from knowledge.models import Example, Instruction, SchemaNote

# Questions (normalized) whose examples must not be shown: set while evaluating.
_excluded_questions: ContextVar[frozenset[str]] = ContextVar(
    "knowledge_excluded_questions", default=frozenset()
)


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


@contextlib.contextmanager
def examples_excluded(questions: Sequence[str]) -> Iterator[None]:
    """Keep examples with these questions out of prompts (an evaluated set)."""
    token = _excluded_questions.set(frozenset(normalize(q) for q in questions))
    try:
        yield
    finally:
        _excluded_questions.reset(token)


def tokenize(text: str) -> list[str]:
    """Split into lowercase words, `_` and camelCase split, plurals folded."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    words = re.findall(r"[a-z0-9]+", text.lower().replace("_", " "))
    folded = []
    for word in words:
        if len(word) > 3 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        folded.append(word)
    return folded


def _ranked(documents: list[str], query: list[str], k: int) -> list[int]:
    """Return the indexes of the top-k documents that share a word with the query."""
    if not documents or not query or k <= 0:
        return []
    corpus = [tokenize(d) or ["\u2205"] for d in documents]
    scores = BM25Okapi(corpus).get_scores(query)
    query_words = set(query)
    order = sorted(range(len(documents)), key=lambda i: (-scores[i], i))
    return [i for i in order if query_words & set(corpus[i])][:k]


def examples_ranked(
    *,
    connection_id: int,
    question: str,
    k: int,
    examples: Sequence[Example] | None = None,
) -> list[Example]:
    """Return the k examples most similar to the question (excluded ones left out)."""
    excluded = _excluded_questions.get()
    candidates: Iterable[Example] = (
        Example.objects.filter(connection_id=connection_id)
        if examples is None
        else examples
    )
    examples = [e for e in candidates if normalize(e.question) not in excluded]
    documents = [
        f"{e.question} {e.question} {e.sql} {e.instructions}" for e in examples
    ]
    return [examples[i] for i in _ranked(documents, tokenize(question), k)]


def instructions_ranked(
    *,
    connection_id: int,
    question: str,
    k: int,
    instructions: Sequence[Instruction] | None = None,
) -> list[Instruction]:
    """Return the instructions: all when they are few, else the k most relevant."""
    instructions = list(
        Instruction.objects.filter(connection_id=connection_id)
        if instructions is None
        else instructions
    )
    if len(instructions) <= k:
        return instructions
    documents = [i.text for i in instructions]
    return [instructions[i] for i in _ranked(documents, tokenize(question), k)]


def tables_ranked(
    *,
    connection_id: int,
    question: str,
    table_names: Sequence[str],
    k: int,
    notes: Sequence[SchemaNote] | None = None,
    examples: Sequence[Example] | None = None,
) -> list[str]:
    """Return the k tables that best match the question by name, notes and examples."""
    if not table_names:
        return []
    if notes is None:
        notes = list(SchemaNote.objects.filter(connection_id=connection_id))
    if examples is None:
        examples = list(Example.objects.filter(connection_id=connection_id))
    words: dict[str, list[str]] = {t.lower(): [t, t] for t in table_names}
    for note in notes:
        bag = words.get(note.table_name.lower())
        if bag is not None:
            bag += [note.column_name, note.description]
    for example in examples:
        sql_words = set(re.findall(r"\w+", example.sql.lower()))
        for name in sql_words & words.keys():
            words[name].append(example.question)
    documents = [" ".join(words[t.lower()]) for t in table_names]
    return [table_names[i] for i in _ranked(documents, tokenize(question), k)]


def _knowledge_exists_sql() -> str:
    """One round trip: does the connection have any knowledge at all?"""
    # Table names come from the models, never from input; the id is a parameter.
    quote = db_connection.ops.quote_name
    checks = [
        f"EXISTS (SELECT 1 FROM {quote(model._meta.db_table)} "  # noqa: S608
        "WHERE connection_id = %s)"
        for model in (Example, Instruction, SchemaNote)
    ]
    return "SELECT " + " OR ".join(checks)


def knowledge_exists(connection_id: int) -> bool:
    """Say whether the connection has examples, instructions or descriptions (most
    have none: this is asked before every question)."""
    with db_connection.cursor() as cursor:
        cursor.execute(_knowledge_exists_sql(), [connection_id] * 3)
        row = cursor.fetchone()
    return bool(row and row[0])


def knowledge_context(
    *,
    connection_id: int,
    question: str,
    table_names: Sequence[str],
    schema_inlined: bool = False,
) -> QuestionContext:
    """Return the retrieved knowledge as prompt text, and the tables ranked.

    The connection's knowledge is read once (three queries); a connection with
    none whose whole schema is in the prompt gets nothing, without ranking.
    """
    if schema_inlined and not knowledge_exists(connection_id):
        return QuestionContext()
    all_examples = list(Example.objects.filter(connection_id=connection_id))
    all_instructions = list(Instruction.objects.filter(connection_id=connection_id))
    all_notes = list(SchemaNote.objects.filter(connection_id=connection_id))
    parts: list[str] = []
    instructions = instructions_ranked(
        connection_id=connection_id,
        question=question,
        k=settings.KNOWLEDGE_TOP_K_INSTRUCTIONS,
        instructions=all_instructions,
    )
    if instructions:
        parts.append(
            "Rules and terms of this database (follow them):\n"
            + "\n".join(f"- {i.text}" for i in instructions)
        )
    examples = examples_ranked(
        connection_id=connection_id,
        question=question,
        k=settings.KNOWLEDGE_TOP_K_EXAMPLES,
        examples=all_examples,
    )
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
    tables = tables_ranked(
        connection_id=connection_id,
        question=question,
        table_names=table_names,
        k=settings.KNOWLEDGE_TOP_K_TABLES,
        notes=all_notes,
        examples=all_examples,
    )
    notes = _notes_for_tables(all_notes, tables)
    if notes:
        parts.append("Descriptions of tables and columns:\n" + notes)
    return QuestionContext(text="\n\n".join(parts), tables=tables)


def _notes_for_tables(notes: Sequence[SchemaNote], tables: Sequence[str]) -> str:
    """Return the descriptions written for these tables and their columns."""
    top = {t.lower() for t in tables}
    lines = []
    for note in notes:
        if note.table_name.lower() not in top:
            continue
        target = (
            f"{note.table_name}.{note.column_name}"
            if note.column_name
            else note.table_name
        )
        lines.append(f"- {target}: {note.description}")
    return "\n".join(lines[:50])
