"""What the agent knows of a database's schema, introspected lazily per table.

LangChain's `SQLDatabase` reflects every table up front (seconds on a schema of
thousands of tables); listing names is milliseconds, so tables are described
only when the prompt or the model needs them, and each description is cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import Inspector
from sqlalchemy.engine.reflection import ObjectKind
from sqlalchemy.exc import SQLAlchemyError

from agent import sql_guard
from agent.tokens import count_tokens
from sqlagent_project import capacity

if TYPE_CHECKING:
    from agent.privacy import PrivacyPolicy

SAMPLE_ROWS = 3
SAMPLE_VALUE_CHARS = 40
# A described table costs at least this many tokens; past budget / this many
# tables, describing them all to measure would only waste time.
MIN_TOKENS_PER_TABLE = 40
# A table list this short is always sent whole, whatever the budget.
LIST_MIN_TOKENS = 200


# `CREATE [OR REPLACE] [TEMP] [ALGORITHM=… DEFINER=… SQL SECURITY …] VIEW name
# [(columns)] AS select`: the name quoted or not. What does not match stays a
# CREATE, which the lineage cannot read: the view stays opaque (fail closed).
_CREATE_VIEW = re.compile(
    r"\s*create\b(?:`[^`]*`|[^`])*?\bview\s+"
    r"(?:`[^`]*`|\"[^\"]*\"|\[[^\]]*\]|[\w$.]+)"
    r"(?:\s*\([^)]*\))?\s+as\s+(.*)",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class SchemaPrompt:
    text: str
    inlined: bool
    table_count: int
    tokens: int


class SchemaCatalog:
    """Tables and their descriptions for one engine, filled on demand and cached."""

    def __init__(
        self, engine: Engine, db_type: str, *, privacy: PrivacyPolicy | None = None
    ):
        self.engine = engine
        self.db_type = db_type
        # Decides which sample values may be described (none under `schema`).
        self.privacy = privacy
        # Reads under it give the CPU slot up; so does waiting for it.
        self._lock = capacity.SlotReleasingLock()
        self._inspector: Inspector | None = None
        self._tables: list[str] | None = None
        self._views: set[str] | None = None
        self._columns: dict[str, dict[str, str]] = {}
        self._all_columns: dict[str, list[str]] | None = None
        self._by_column: dict[str, set[str]] | None = None
        self._view_sql: dict[str, str | None] = {}
        self._descriptions: dict[str, str] = {}
        self._prompts: dict[int, SchemaPrompt] = {}

    def engine_use(self, engine: Engine) -> None:
        """Read from now on through `engine` (the same database's new pool)."""
        with self._lock:
            self.engine = engine
            self._inspector = None

    @property
    def inspector(self) -> Inspector:
        """The engine's inspector; each of its reads is a wait on the database,
        made without the ask's CPU slot."""
        if self._inspector is None:
            with capacity.cpu_released():
                inspector = inspect(self.engine)
            self._inspector = cast(Inspector, _Released(inspector))
        return self._inspector

    def table_names(self) -> list[str]:
        """Return the tables and views of the default schema, sorted."""
        with self._lock:
            if self._tables is None:
                names = set(self.inspector.get_table_names())
                views = set(self.inspector.get_view_names())
                self._views = views
                self._tables = sorted(names | views)
            return list(self._tables)

    def table_resolve(self, name: str) -> str | None:
        """Return the catalog's own spelling of a table name, or None if unknown."""
        wanted = name.lower()
        for table in self.table_names():
            if table.lower() == wanted:
                return table
        return None

    def is_view(self, name: str) -> bool:
        self.table_names()
        return name in (self._views or set())

    @property
    def default_schema_name(self) -> str:
        return self.inspector.default_schema_name or ""

    def column_types(self, name: str) -> dict[str, str]:
        """Return a table's columns and their types, in order (cached)."""
        with self._lock:
            cached = self._columns.get(name)
        if cached is not None:
            return cached
        columns = {
            column["name"]: str(column["type"]) for column in self._columns_read(name)
        }
        with self._lock:
            self._columns[name] = columns
        return columns

    def columns_all(self) -> dict[str, list[str]]:
        """Return every table's column names, read once in bulk and cached.

        What schema linking ranks tables by on a big schema (a question says
        "rating", the table holding it is `review`). One catalog query on
        PostgreSQL and MySQL (`get_multi_columns`); one PRAGMA per table on
        SQLite. A schema that cannot be read so gives nothing (names only).
        """
        with self._lock:
            if self._all_columns is not None:
                return self._all_columns
        try:
            found = self.inspector.get_multi_columns(kind=ObjectKind.ANY)
        except SQLAlchemyError:
            found = {}
        columns: dict[str, list[str]] = {}
        with self._lock:
            for (_schema, table), reflected in found.items():
                columns[table] = [c["name"] for c in reflected]
                self._columns.setdefault(
                    table, {c["name"]: str(c["type"]) for c in reflected}
                )
            self._all_columns = columns
        return columns

    def structure(self) -> dict[str, Any]:
        """Return the table and view names and every table's column types, no
        value: what one worker reads for every process (catalog_store.py)."""
        tables, _ = self.table_names(), self.columns_all()
        with self._lock:
            views = sorted(self._views or ())
            columns = {t: dict(c) for t, c in self._columns.items()}
        return {"tables": tables, "views": views, "columns": columns}

    def structure_use(self, structure: dict[str, Any]) -> None:
        """Start from a structure read elsewhere instead of reading it here."""
        columns: dict[str, dict[str, str]] = structure["columns"]
        with self._lock:
            self._tables, self._views = structure["tables"], set(structure["views"])
            for table, types in columns.items():
                self._columns.setdefault(table, dict(types))
            self._all_columns = {t: list(c) for t, c in columns.items()}

    def tables_by_column(self) -> dict[str, set[str]]:
        """Return, per lowercased column name, the tables holding it (cached)."""
        with self._lock:
            if self._by_column is not None:
                return self._by_column
        holders: dict[str, set[str]] = {}
        for table, names in self.columns_all().items():
            for name in names:
                holders.setdefault(name.lower(), set()).add(table)
        with self._lock:
            self._by_column = holders
        return holders

    def _columns_read(self, name: str) -> list[Any]:
        """Return a table's reflected columns; none for a view this role may not
        describe (MySQL/MariaDB want SHOW VIEW), which then stays opaque to
        lineage (fail closed) instead of failing the whole ask."""
        try:
            return list(self.inspector.get_columns(name))
        except SQLAlchemyError:
            if not self.is_view(name):
                raise
            return []

    def view_definition(self, name: str) -> str | None:
        """Return a view's SELECT, or None when the database does not tell."""
        with self._lock:
            if name in self._view_sql:
                return self._view_sql[name]
        try:
            text = self.inspector.get_view_definition(name)
        except Exception:  # any failure: the view stays opaque
            text = None
        if text:
            # PostgreSQL gives the SELECT; SQLite the CREATE VIEW; MySQL and
            # MariaDB the CREATE with its ALGORITHM, DEFINER and SQL SECURITY.
            match = _CREATE_VIEW.match(text)
            text = (match.group(1) if match else text).strip().rstrip(";")
        with self._lock:
            self._view_sql[name] = text or None
        return text or None

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
            tokens = count_tokens(text)
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
            if count_tokens(text) > max(token_budget // 2, LIST_MIN_TOKENS):
                listed: list[str] = []
                used = count_tokens(head) + 40
                for name in tables:
                    used += count_tokens(name) + 1  # and its comma
                    if used > token_budget // 2:
                        break
                    listed.append(name)
                text = (
                    head
                    + ", ".join(listed)
                    + f", and {len(tables) - len(listed)} more not listed here. "
                    "The tables most relevant to each question are described "
                    "with it; list_tables with a search word finds the others."
                )
            prompt = SchemaPrompt(text, False, len(tables), count_tokens(text))
        self._prompts[token_budget] = prompt
        return prompt

    def _describe_one(self, name: str) -> str:
        with self._lock:
            cached = self._descriptions.get(name)
        if cached is not None:
            return cached
        inspector = self.inspector
        columns = self._columns_read(name)
        if not columns and self.is_view(name):
            description = (
                f"View {name}: its columns cannot be read with this database role "
                "(MySQL/MariaDB need SHOW VIEW on the database)."
            )
            with self._lock:
                self._descriptions[name] = description
            return description
        primary_key = set(
            inspector.get_pk_constraint(name).get("constrained_columns") or []
        )
        foreign_keys = {}
        for fk in inspector.get_foreign_keys(name):
            for local, remote in zip(
                fk["constrained_columns"], fk["referred_columns"], strict=False
            ):
                foreign_keys[local] = f"{fk['referred_table']}.{remote}"
        samples = self._samples(name, self._sampled_columns(name, columns))
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

    def _sampled_columns(self, table: str, columns: list[Any]) -> list[str]:
        names = [c["name"] for c in columns]
        if self.privacy is None:
            return names
        # A view's columns are judged by what they are traced to, not by name.
        return self.privacy.columns_sampled(
            table, names, catalog=self, select_sql=self._select_sql(table, names)
        )

    def _select_sql(self, table: str, columns: list[str]) -> str:
        preparer = self.engine.dialect.identifier_preparer
        selected = ", ".join(preparer.quote(c) for c in columns)
        return f"SELECT {selected} FROM {preparer.quote(table)}"  # noqa: S608

    def _samples(self, table: str, columns: list[str]) -> dict[str, list[str]]:
        if not columns:
            return {}
        # Only the columns that may be described are read at all.
        sql = f"{self._select_sql(table, columns)} LIMIT {SAMPLE_ROWS}"
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
        # Only the columns asked for: a masked column's values are never kept.
        return {c: samples.get(c, []) for c in columns}


class _Released:
    """An inspector whose every method call gives the ask's CPU slot up while
    it reads the database."""

    def __init__(self, inspector: Inspector) -> None:
        self._inspector = inspector

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inspector, name)
        if not callable(attribute):
            return attribute

        def read(*args: Any, **kwargs: Any) -> Any:
            with capacity.cpu_released():
                return attribute(*args, **kwargs)

        return read
