"""Run a turn's stored SQL again, for its owner, with no model involved.

Exports and board tiles want today's rows, not the rows stored with the turn.
The SQL goes through exactly the guard the agent's queries go through
(statement check, attribute references, read-only transaction, timeout, cell
and byte caps) on the database's shared pool behind the connection gate, and
the rows come back as the user may see them: masked values as tokens when the connection
hides them from people too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from agent import sql_guard
from agent.catalog import SchemaCatalog
from agent.models import Turn
from agent.privacy import PrivacyPolicy
from agent.querying import query_checked_run
from connections.engines import engine_shared
from connections.exceptions import TargetDatabaseUnavailable
from connections.models import DatabaseConnection
from sqlagent_project.errors import ApplicationError


class NothingToRerun(ApplicationError):
    """The turn ran no SQL that worked, or its database is gone."""

    status_code = 404
    code = "nothing_to_rerun"
    default_message = "This answer has no query to run again."


def turn_sql(turn: Turn) -> str:
    """Return the last SQL of the turn that ran without error."""
    for query in reversed(turn.queries or []):
        if query.get("sql") and not query.get("error"):
            return str(query["sql"])
    raise NothingToRerun()


class Rerunner:
    """Runs saved SQL on one connection for its owner, on one engine and
    catalog for all of it (a board's tiles on one database share them)."""

    def __init__(self, connection: DatabaseConnection) -> None:
        self.connection = connection
        self.policy = PrivacyPolicy.for_connection(connection)
        self._engine: Engine | None = None
        self._catalog: SchemaCatalog | None = None

    def _open(self) -> tuple[Engine, SchemaCatalog]:
        if self._engine is None or self._catalog is None:
            try:
                self._engine = engine_shared(self.connection)
            except TargetDatabaseUnavailable as exc:
                raise sql_guard.QueryFailed(exc.message) from exc
            self._catalog = SchemaCatalog(self._engine, self.connection.db_type)
        return self._engine, self._catalog

    def run(self, sql: str, *, max_rows: int) -> sql_guard.QueryResult:
        """Run `sql` read-only and bounded; return the user's view of its rows.

        Raises StatementRefused or QueryFailed as the agent's own queries do; a
        database that cannot be reached is a QueryFailed with its reason.
        """
        db_type = self.connection.db_type
        try:
            engine, catalog = self._open()
            try:
                # The one LLM-free query path (statement, attribute calls, bounds).
                result = query_checked_run(
                    engine, db_type=db_type, catalog=catalog, sql=sql, max_rows=max_rows
                )
            except sql_guard.QueryFailed as exc:
                # The database's text may quote a value the user may not see.
                exposure = self.policy.exposure(
                    sql=sql, db_type=db_type, catalog=catalog
                )
                shown = self.policy.error_for_user(exc, exposure)
                if shown == exc.message:
                    raise
                raise sql_guard.QueryFailed(shown, timed_out=exc.timed_out) from exc
            if not self.policy.masked_hidden:
                return result
            exposure = self.policy.exposure(
                sql=sql,
                db_type=db_type,
                catalog=catalog,
                column_count=len(result.columns),
            )
            return self.policy.result_for_user(result, exposure)
        except TargetDatabaseUnavailable as exc:
            raise sql_guard.QueryFailed(exc.message) from exc
        except SQLAlchemyError as exc:
            raise sql_guard.QueryFailed(str(getattr(exc, "orig", exc))[:300]) from exc

    def close(self) -> None:
        # The database's one shared pool stays for the next user of it.
        self._engine = None


@contextmanager
def rerunner(connection: DatabaseConnection) -> Iterator[Rerunner]:
    """Yield a Rerunner for the connection (on its database's shared pool)."""
    runner = Rerunner(connection)
    try:
        yield runner
    finally:
        runner.close()


def sql_rerun_for_user(
    *, connection: DatabaseConnection, sql: str, max_rows: int
) -> sql_guard.QueryResult:
    """Run one SQL read-only and bounded on the connection for its owner."""
    with rerunner(connection) as runner:
        return runner.run(sql, max_rows=max_rows)
