"""What the agent knows of a database's schema, introspected lazily per table.

LangChain's `SQLDatabase` reflects every table up front (seconds on a schema of
thousands of tables); listing names is milliseconds, so tables are described
only when the prompt or the model needs them, and each description is cached.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import Inspector

from agent import sql_guard

SAMPLE_ROWS = 3
SAMPLE_VALUE_CHARS = 40
# A described table costs at least this many tokens; past budget / this many
# tables, describing them all to measure would only waste time.
MIN_TOKENS_PER_TABLE = 40


def estimate_tokens(text: str) -> int:
    """Return a rough token count (about four characters a token)."""
    return len(text) // 4 + 1


@dataclass(frozen=True)
class SchemaPrompt:
    text: str
    inlined: bool
    table_count: int
    tokens: int


class SchemaCatalog:
    """Tables and their descriptions for one engine, filled on demand and cached."""

    def __init__(self, engine: Engine, db_type: str):
        self.engine = engine
        self.db_type = db_type
        self._lock = threading.Lock()
        self._inspector: Inspector | None = None
        self._tables: list[str] | None = None
        self._descriptions: dict[str, str] = {}
        self._prompts: dict[int, SchemaPrompt] = {}

    @property
    def inspector(self) -> Inspector:
        if self._inspector is None:
            self._inspector = inspect(self.engine)
        return self._inspector

    def table_names(self) -> list[str]:
        """Return the tables and views of the default schema, sorted."""
        with self._lock:
            if self._tables is None:
                names = set(self.inspector.get_table_names())
                names.update(self.inspector.get_view_names())
                self._tables = sorted(names)
            return list(self._tables)

    def describe(self, table_names: list[str]) -> str:
        """Return columns, types, keys and sample values of the named tables."""
        known = {name.lower(): name for name in self.table_names()}
        parts = []
        for requested in table_names:
            name = known.get(str(requested).strip().strip('"`[]').lower())
            if name is None:
                parts.append(f"Unknown table: {requested!r}.")
                continue
            parts.append(self._describe_one(name))
        return "\n\n".join(parts)

    def tables_named_in(self, text: str, *, limit: int = 8) -> list[str]:
        """Return the tables a text names, singular or plural, `_` read as a space.

        Cheap schema linking: when the whole schema is too big for the prompt,
        the tables a question names are described up front, so the model need
        not spend a call on describe_tables for them.
        """
        lowered = text.lower()
        words = set(re.findall(r"[\w]+", lowered))
        spaced = " ".join(re.findall(r"[\w]+", lowered.replace("_", " ")))
        named = []
        for table in self.table_names():
            name = table.lower()
            forms = {name, name.rstrip("s"), f"{name}s", f"{name}es"}
            if name.endswith("ies"):
                forms.add(name[:-3] + "y")
            phrase = name.replace("_", " ")
            if forms & words or (
                " " in phrase and re.search(rf"\b{re.escape(phrase)}s?\b", spaced)
            ):
                named.append(table)
                if len(named) >= limit:
                    break
        return named

    def prompt(self, *, token_budget: int) -> SchemaPrompt:
        """Return the whole schema when it fits the budget, else the table list."""
        cached = self._prompts.get(token_budget)
        if cached is not None:
            return cached
        tables = self.table_names()
        prompt: SchemaPrompt | None = None
        if len(tables) * MIN_TOKENS_PER_TABLE <= token_budget:
            text = self.describe(tables)
            tokens = estimate_tokens(text)
            if tokens <= token_budget:
                prompt = SchemaPrompt(text, True, len(tables), tokens)
        if prompt is None:
            head = (
                f"The database has {len(tables)} tables (too many to describe here; "
                "call describe_tables for the ones you need): "
            )
            text = head + ", ".join(tables)
            # The list alone may not fit either (thousands of tables): cut it to
            # half the budget, the other half is for the tables described with
            # each question.
            if estimate_tokens(text) > token_budget:
                listed: list[str] = []
                used = estimate_tokens(head) + 40
                for name in tables:
                    used += len(name) // 4 + 1
                    if used > token_budget // 2:
                        break
                    listed.append(name)
                text = (
                    head
                    + ", ".join(listed)
                    + f", and {len(tables) - len(listed)} more not listed here. "
                    "The tables most relevant to each question are described "
                    "with it; list_tables lists them all."
                )
            prompt = SchemaPrompt(text, False, len(tables), estimate_tokens(text))
        self._prompts[token_budget] = prompt
        return prompt

    def _describe_one(self, name: str) -> str:
        with self._lock:
            cached = self._descriptions.get(name)
        if cached is not None:
            return cached
        inspector = self.inspector
        columns = inspector.get_columns(name)
        primary_key = set(
            inspector.get_pk_constraint(name).get("constrained_columns") or []
        )
        foreign_keys = {}
        for fk in inspector.get_foreign_keys(name):
            for local, remote in zip(
                fk["constrained_columns"], fk["referred_columns"], strict=False
            ):
                foreign_keys[local] = f"{fk['referred_table']}.{remote}"
        samples = self._samples(name, [c["name"] for c in columns])
        lines = [f"Table {name}:"]
        for column in columns:
            notes = []
            if column["name"] in primary_key:
                notes.append("primary key")
            if column["name"] in foreign_keys:
                notes.append(f"references {foreign_keys[column['name']]}")
            if not column.get("nullable", True):
                notes.append("not null")
            values = samples.get(column["name"])
            if values:
                notes.append("e.g. " + ", ".join(values))
            suffix = f" ({'; '.join(notes)})" if notes else ""
            lines.append(f"  - {column['name']} {column['type']}{suffix}")
        description = "\n".join(lines)
        with self._lock:
            self._descriptions[name] = description
        return description

    def _samples(self, table: str, columns: list[str]) -> dict[str, list[str]]:
        preparer = self.engine.dialect.identifier_preparer
        sql = f"SELECT * FROM {preparer.quote(table)} LIMIT {SAMPLE_ROWS}"  # noqa: S608
        try:
            result = sql_guard.query_run(
                self.engine,
                db_type=self.db_type,
                sql=sql,
                max_rows=SAMPLE_ROWS,
                timeout_s=5,
            )
        except (sql_guard.QueryFailed, sql_guard.StatementRefused):
            return {}
        samples: dict[str, list[str]] = {}
        for index, column in enumerate(result.columns):
            values = []
            for row in result.rows:
                value = row[index]
                if value is None:
                    continue
                text = str(value).replace("\n", " ")
                if len(text) > SAMPLE_VALUE_CHARS:
                    text = text[:SAMPLE_VALUE_CHARS] + "…"
                values.append(repr(text) if isinstance(value, str) else text)
            samples[column] = values
        return {c: samples.get(c, []) for c in columns}
