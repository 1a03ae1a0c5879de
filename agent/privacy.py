"""What of a connection's data may leave for the model: the one place that decides.

A `PrivacyPolicy` is built from the connection row (`for_connection`) with the
session's engine, so a changed tier takes effect with the next engine. Every
text the model reads about the data is made here or asks here: query results
(`result_for_model`), database errors (`error_for_model`), sample values
(`columns_sampled`), and the replay of earlier turns (`history_answer_allowed`).

- `rows`: the model sees capped result rows and sample values, masked columns
  excepted.
- `schema`: the model sees names, types and keys, and per query only the column
  names, row count, truncation and errors; never a value.
- Masked columns (any tier): every value read from a column whose name matches
  a mask reaches the model as a stable token (an HMAC of the value under a key
  per connection), traced through aliases, expressions, `*`, subqueries, CTEs
  and views; a result column that cannot be traced is masked (fail closed).
  With `masked_hidden` the user gets the tokens too.
- Rows chosen by a restricted column (FROM's table functions, JOIN, WHERE,
  GROUP BY, HAVING, DISTINCT, ORDER BY read it): the model gets neither the
  rows nor their number (`COUNT(*)` over `generate_series(1, ascii(email))` is
  a stored character); on the `schema` tier the number is withheld when the
  rows depend on any value.
- Errors: when the query reads a restricted column (or cannot be traced), the
  model and MCP clients get the error's code and class, never its text; so
  does a `masked_hidden` user when the query reads a masked column.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils.encoding import force_bytes

from agent.column_lineage import UNKNOWN, Source, Traced, result_sources
from connections.models import DatabaseConnection, PrivacyTier

if TYPE_CHECKING:
    from agent import sql_guard
    from agent.catalog import SchemaCatalog

TOKEN_PREFIX = "⟪mask:"  # noqa: S105 - not a secret
TOKEN_SUFFIX = "⟫"  # noqa: S105 - not a secret
# A value computed from a masked one (lower(email), a count over rows a masked
# column chose): one mark for all, so that no chosen text (`'a' || substr(email,
# 1, 0)`) can be tokenized to decode the tokens of stored values.
COMPUTED_MASK = "⟪masked⟫"
TOKEN_HEX_CHARS = 6
_TOKEN_PATTERN = re.compile(
    re.escape(TOKEN_PREFIX) + f"[0-9a-f]{{{TOKEN_HEX_CHARS}}}" + re.escape(TOKEN_SUFFIX)
)


@dataclass(frozen=True)
class Exposure:
    """What of one query's outcome may be shown, under a policy.

    `masked`: result columns whose values come from a masked column (or from
    nothing traceable). `computed`: columns that are not stored values as
    stored (masked, they show one mark, not a token per value). `rows_masked`:
    which rows come back, or their order, depends on a masked column.
    `count_hidden`: the model may not learn how many rows came back.
    `reads_masked`: the query reads a masked column anywhere. `text_hidden`:
    an error's text may not reach the model.
    """

    masked: frozenset[int] = frozenset()
    computed: frozenset[int] = frozenset()
    rows_masked: bool = False
    count_hidden: bool = False
    reads_masked: bool = False
    text_hidden: bool = False


NOTHING_RESTRICTED = Exposure()


@dataclass(frozen=True)
class MaskPattern:
    """One `masked_columns` entry: a column glob, optionally with a table glob."""

    table: str | None
    column: str

    @classmethod
    def parse(cls, entry: str) -> MaskPattern:
        table, _, column = entry.strip().lower().rpartition(".")
        return cls(table or None, column)

    def matches(self, table: str, column: str) -> bool:
        if not fnmatch.fnmatchcase(column.lower(), self.column):
            return False
        return self.table is None or fnmatch.fnmatchcase(table.lower(), self.table)


@dataclass(frozen=True)
class PrivacyPolicy:
    """A connection's privacy tier and masks, and the rendering they imply."""

    tier: str
    masks: tuple[MaskPattern, ...]
    masked_hidden: bool
    connection_id: int | None
    # Turns answered before this instant were answered under other rules.
    changed_at: datetime | None = None

    @classmethod
    def for_connection(cls, connection: DatabaseConnection) -> PrivacyPolicy:
        """Return the connection's policy; an unknown tier is read as `schema`."""
        tier = connection.privacy
        if tier not in PrivacyTier.values:
            tier = PrivacyTier.SCHEMA
        return cls(
            tier=tier,
            masks=tuple(MaskPattern.parse(e) for e in connection.masked_columns or []),
            masked_hidden=bool(connection.masked_hidden),
            connection_id=connection.pk,
            changed_at=connection.privacy_changed_at,
        )

    @property
    def values_visible(self) -> bool:
        """Say whether the model may read values at all (the `rows` tier)."""
        return self.tier == PrivacyTier.ROWS

    @property
    def restricts(self) -> bool:
        return not self.values_visible or bool(self.masks)

    def column_masked(self, table: str, column: str) -> bool:
        return any(mask.matches(table, column) for mask in self.masks)

    def token(self, value: Any) -> str:
        """Return the stable token that stands for `value` on this connection."""
        key = hashlib.sha256(
            force_bytes(
                f"sqlagent.privacy.mask:{self.connection_id}:{settings.SECRET_KEY}"
            )
        ).digest()
        text = json.dumps(value, default=str, ensure_ascii=False)
        digest = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
        return f"{TOKEN_PREFIX}{digest[:TOKEN_HEX_CHARS]}{TOKEN_SUFFIX}"

    def exposure(
        self,
        *,
        sql: str,
        db_type: str,
        catalog: SchemaCatalog,
        column_count: int | None = None,
    ) -> Exposure:
        """Return what of this query's result or error may be shown.

        `column_count` is the result's (None for a failed query). What cannot
        be traced is taken as restricted throughout (fail closed).
        """
        if not self.restricts:
            return NOTHING_RESTRICTED
        try:
            traced = result_sources(
                sql=sql, db_type=db_type, column_count=column_count, catalog=catalog
            )
        except Exception:  # e.g. the catalog failed: fail closed
            traced = None
        if traced is None:
            every = frozenset(range(column_count or 0))
            return Exposure(
                masked=every,
                computed=every,
                rows_masked=True,
                count_hidden=True,
                reads_masked=True,
                text_hidden=True,
            )
        return self._exposure_of(traced)

    def _exposure_of(self, traced: Traced) -> Exposure:
        masked = frozenset(
            index
            for index, sources in enumerate(traced.columns)
            if self._any_masked(sources)
        )
        rows_masked = self._any_masked(traced.rows)
        reads_masked = self._any_masked(traced.reads)
        # On `schema` every value is restricted: a count that depends on any
        # value is one.
        count_hidden = rows_masked if self.values_visible else bool(traced.count)
        return Exposure(
            masked=masked,
            computed=frozenset(range(len(traced.columns))) - traced.stored,
            rows_masked=rows_masked,
            count_hidden=count_hidden,
            reads_masked=reads_masked,
            text_hidden=reads_masked or not self.values_visible,
        )

    def masked_columns_of(
        self,
        *,
        sql: str,
        result: sql_guard.QueryResult,
        db_type: str,
        catalog: SchemaCatalog,
    ) -> frozenset[int]:
        """Return the indexes of the result columns that carry masked values."""
        if not self.masks or not result.columns:
            return frozenset()
        return self.exposure(
            sql=sql, db_type=db_type, catalog=catalog, column_count=len(result.columns)
        ).masked

    def columns_sampled(
        self,
        table: str,
        columns: list[str],
        *,
        catalog: SchemaCatalog,
        select_sql: str,
    ) -> list[str]:
        """Return the columns of `table` whose sample values may be described.

        A view's column is judged by the table columns it is traced to (not by
        its own name), and a view whose rows a masked column chooses, or that
        cannot be traced, gets no samples at all.
        """
        if not self.values_visible:
            return []
        if not self.masks:
            return list(columns)
        if not catalog.is_view(table):
            return [c for c in columns if not self.column_masked(table, c)]
        exposure = self.exposure(
            sql=select_sql,
            db_type=catalog.db_type,
            catalog=catalog,
            column_count=len(columns),
        )
        if exposure.rows_masked:
            return []
        return [c for i, c in enumerate(columns) if i not in exposure.masked]

    def _any_masked(self, sources: frozenset[Source]) -> bool:
        return any(self._source_masked(source) for source in sources)

    def _source_masked(self, source: Source) -> bool:
        return source == UNKNOWN or self.column_masked(source.table, source.column)

    def tokenize(
        self,
        result: sql_guard.QueryResult,
        masked: frozenset[int],
        computed: frozenset[int] = frozenset(),
    ) -> sql_guard.QueryResult:
        """Return the result with the masked columns' values replaced: a token
        per stored value, one mark for every value computed from one."""
        if not masked:
            return result
        rows = [
            [
                value
                if index not in masked or value is None
                else COMPUTED_MASK
                if index in computed
                else self.token(value)
                for index, value in enumerate(row)
            ]
            for row in result.rows
        ]
        return replace(result, rows=rows)

    def shown(
        self, result: sql_guard.QueryResult, exposure: Exposure
    ) -> sql_guard.QueryResult:
        """Return the result with what `exposure` masks replaced."""
        return self.tokenize(result, exposure.masked, exposure.computed)

    def result_for_user(
        self, result: sql_guard.QueryResult, exposure: Exposure
    ) -> sql_guard.QueryResult:
        """Return what the user gets: the rows, with tokens for masked values
        when the connection hides them (every column when a masked column
        chose the rows: a count per group can spell a value)."""
        if not self.masked_hidden:
            return result
        if exposure.rows_masked:
            every = frozenset(range(len(result.columns)))
            return self.tokenize(result, every, exposure.computed)
        return self.shown(result, exposure)

    def result_for_model(
        self,
        result: sql_guard.QueryResult,
        exposure: Exposure,
        *,
        max_rows: int,
        max_chars: int,
        max_cell: int,
    ) -> str:
        """Return the text the model reads for one result, under this policy."""
        header = json.dumps(result.columns, ensure_ascii=False)
        if exposure.count_hidden:
            why = (
                "Privacy tier 'schema'"
                if not self.values_visible
                else "Rows withheld: a masked column chooses which rows this "
                "query returns (its FROM, JOIN, WHERE, GROUP BY, HAVING, "
                "DISTINCT or ORDER BY reads one)"
            )
            return (
                f"Columns: {header}. {why}: you see neither the values nor how "
                "many rows came back; the user sees them in the table below your "
                "answer."
            )
        note = f"{result.row_count} row(s)"
        if result.truncated:
            note += f" (result capped at {result.row_count} rows; more exist)"
        if not self.values_visible:
            return (
                f"{note}. Columns: {header}. Privacy tier 'schema': you cannot see "
                "the values; the user sees them in the table below your answer."
            )
        masked = exposure.masked
        visible = self.shown(result, exposure)
        lines = [header]
        shown = 0
        used = len(header)
        for row in visible.rows[:max_rows]:
            cells = [_cell_cut(value, max_cell) for value in row]
            line = json.dumps(cells, ensure_ascii=False, default=str)
            if used + len(line) > max_chars:
                break
            lines.append(line)
            used += len(line) + 1
            shown += 1
        if shown < result.row_count:
            note += f"; showing the first {shown}"
        tokens = masked - exposure.computed
        if tokens:
            names = ", ".join(result.columns[i] for i in sorted(tokens))
            note += (
                f"; masked columns ({names}) show a token per value "
                "(equal values, equal tokens)"
            )
        if masked & exposure.computed:
            computed = sorted(masked & exposure.computed)
            names = ", ".join(result.columns[i] for i in computed)
            note += (
                f"; columns computed from masked values ({names}) show {COMPUTED_MASK}"
            )
        return note + ":\n" + "\n".join(lines)

    def error_for_model(self, error: sql_guard.QueryFailed, exposure: Exposure) -> str:
        """Return a database error as the model (or an MCP client) may read it:
        only its code and class when it could quote a restricted value."""
        return error.summary() if exposure.text_hidden else error.message

    def error_for_user(self, error: sql_guard.QueryFailed, exposure: Exposure) -> str:
        """Return a database error as the user may read it: only its code and
        class when masked values are hidden from them and the query reads one."""
        if self.masked_hidden and exposure.reads_masked:
            return error.summary()
        return error.message

    def text_unmasked(self, text: str, rows: list[list[Any]] | None) -> str:
        """Return `text` with the token of each value in `rows` put back as the
        value: for the user's own eyes, when values are not hidden from them.
        Never for a text the model reads (its history keeps the tokens)."""
        if self.masked_hidden or not self.masks or TOKEN_PREFIX not in text:
            return text
        values: dict[str, str] = {}
        for row in rows or []:
            for value in row or []:
                if value is not None and not isinstance(value, dict | list):
                    values.setdefault(self.token(value), str(value))
        return _TOKEN_PATTERN.sub(
            lambda match: values.get(match.group(0), match.group(0)), text
        )

    def history_answer_allowed(self, answered_at: datetime | None) -> bool:
        """Say whether an earlier answer may be replayed to the model.

        An answer written before the rules last changed may hold values the
        model may no longer see; only its question is replayed then.
        """
        if not self.restricts or self.changed_at is None:
            return True
        return answered_at is not None and answered_at > self.changed_at


def _cell_cut(value: Any, max_chars: int) -> Any:
    if isinstance(value, str) and len(value) > max_chars:
        return value[:max_chars] + f"…[cut: {len(value)} characters]"
    return value


def policy_default() -> PrivacyPolicy:
    """Return the policy of a connection with default settings (tests, benches)."""
    return PrivacyPolicy(
        tier=PrivacyTier.ROWS, masks=(), masked_hidden=False, connection_id=None
    )
