"""A backend registered with a hook missing is refused on every path that needs it.

Each case registers, by dotted path in DATABASE_BACKENDS, the SQLite backend
with one hook taken away (each of them in turn: no dialect, no function
allow-list, no lineage dialect, no default port, ...), and goes down every
path that asks a backend: the statement check, PostgreSQL-style attribute
checks, column lineage and privacy masking, evaluation, the target policy,
saving a connection, checking and connecting it, building its engine and
running a query. Each refuses with
its own error (never a 500, never another engine's rules, never running SQL).
The same backend with nothing missing passes every one of them, so the
refusals are the missing hook's doing.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from sqlalchemy import event

from agent import sql_guard
from agent.catalog import SchemaCatalog
from agent.column_lineage import result_sources
from agent.privacy import MaskPattern, PrivacyPolicy
from agent.sql_guard import QueryResult, StatementRefused, statement_check
from agent.sql_guard.attributes import attribute_calls_check
from connections import target_policy
from connections.backends import (
    DatabaseBackend,
    UnknownDatabaseType,
    backend_for,
    db_type_choices,
)
from connections.backends.base import hooks_missing
from connections.backends.sqlite import SQLiteBackend
from connections.checks import backends_check
from connections.engines import connection_check, engine_create
from connections.exceptions import TargetDatabaseUnavailable
from connections.models import DatabaseConnection
from connections.services import session_connect, session_get_or_create_active
from connections.validation import ConnectionInvalid, connection_validate
from knowledge.evaluation import orders_at_top_level
from testsupport.fixtures import SQLITE_FILE

# Every hook the base class declares; each case leaves exactly one out.
HOOKS = hooks_missing(DatabaseBackend())


class CompleteHalf(SQLiteBackend):
    """The control: SQLite under another name, every hook present."""

    db_type = "half"
    label = "Half"


_module = sys.modules[__name__]
for _hook in HOOKS:
    # The base class's member refuses (NotImplementedError): the hook is missing.
    setattr(
        _module,
        f"HalfWithout_{_hook}",
        type(
            f"HalfWithout_{_hook}",
            (CompleteHalf,),
            {_hook: vars(DatabaseBackend)[_hook]},
        ),
    )

SQL = "SELECT name, email FROM customers ORDER BY name"


def _registered(path: str) -> Any:
    return override_settings(
        DATABASE_BACKENDS={**settings.DATABASE_BACKENDS, "half": path}
    )


def _connection(owner: Any) -> DatabaseConnection:
    # Saved directly: saving through the service is one of the refused paths.
    return DatabaseConnection.objects.create(
        owner=owner, db_type="half", database_name=SQLITE_FILE
    )


def _masked(catalog: Any) -> frozenset[int]:
    policy = PrivacyPolicy(
        tier="rows",
        masks=(MaskPattern.parse("secret_column"),),
        masked_hidden=False,
        connection_id=None,
    )
    result = QueryResult(
        columns=["name", "email"],
        column_types=["text", "text"],
        rows=[],
        row_count=0,
        truncated=False,
        duration_ms=0.0,
    )
    return policy.masked_columns_of(
        sql=SQL, result=result, db_type="half", catalog=catalog
    )


@pytest.mark.django_db
def test_the_complete_backend_passes_every_path(alice: Any, shop: Any) -> None:
    with _registered(f"{__name__}.CompleteHalf"):
        assert ("half", "Half") in db_type_choices()
        assert backends_check() == []
        assert statement_check(SQL, db_type="half") == SQL
        assert orders_at_top_level(SQL, db_type="half") is True
        connection = _connection(alice)
        engine = engine_create(connection, pooled=False)
        try:
            catalog = SchemaCatalog(engine, "half")
            attribute_calls_check(SQL, db_type="half", catalog=catalog)
            traced = result_sources(
                sql=SQL, db_type="half", column_count=2, catalog=catalog
            )
            assert traced is not None
            assert len(traced.columns) == 2
            # Only a masked column is masked: the trace was followed.
            assert _masked(catalog) == frozenset()
            result = sql_guard.query_run(
                engine, db_type="half", sql=SQL, max_rows=5, timeout_s=5
            )
            assert result.row_count > 0
        finally:
            engine.dispose()
        assert target_policy.validate_options("half", {}) == {}
        target_policy.check_not_app_database(
            db_type="half", host="", port=0, database_name=SQLITE_FILE
        )
        assert connection_validate(db_type="half", database_name=SQLITE_FILE).is_file
        assert connection_check(connection).ok
        session = session_get_or_create_active(user=alice)
        assert session_connect(session=session, connection=connection)


@pytest.mark.django_db
@pytest.mark.parametrize("hook", HOOKS)
def test_a_backend_missing_a_hook_is_refused_on_every_path(
    hook: str, alice: Any, shop: Any
) -> None:
    with _registered(f"{__name__}.HalfWithout_{hook}"):
        # Registration: reported by `manage.py check`, offered to nobody.
        [error] = backends_check()
        assert hook in error.msg
        assert "half" not in dict(db_type_choices())
        with pytest.raises(UnknownDatabaseType, match=hook):
            backend_for("half")

        # The statement check, and the checks built on it.
        with pytest.raises(StatementRefused, match="cannot be checked"):
            statement_check(SQL, db_type="half")
        with pytest.raises(StatementRefused, match="cannot be checked"):
            attribute_calls_check(SQL, db_type="half", catalog=None)  # type: ignore[arg-type]

        # Lineage cannot trace, so privacy masks every column.
        assert (
            result_sources(sql=SQL, db_type="half", column_count=2, catalog=None)  # type: ignore[arg-type]
            is None
        )
        assert _masked(None) == frozenset({0, 1})

        # Evaluation: the gold SQL is not read as some other engine's.
        with pytest.raises(StatementRefused):
            orders_at_top_level(SQL, db_type="half")

        # Target policy.
        with pytest.raises(target_policy.TargetRefused) as refused:
            target_policy.check_not_app_database(
                db_type="half", host="localhost", port=0, database_name="x"
            )
        assert refused.value.field == "db_type"
        with pytest.raises(target_policy.TargetRefused):
            target_policy.validate_options("half", {})

        # Saving, checking and connecting a connection; its engine; a query.
        with pytest.raises(ConnectionInvalid) as invalid:
            connection_validate(db_type="half", database_name=SQLITE_FILE)
        assert hook in invalid.value.errors["db_type"]
        connection = _connection(alice)
        check = connection_check(connection)
        assert not check.ok
        assert hook in (check.error or "")
        session = session_get_or_create_active(user=alice)
        with pytest.raises(TargetDatabaseUnavailable):
            session_connect(session=session, connection=connection)
        session.refresh_from_db()
        assert session.db_connection is None
        with pytest.raises(TargetDatabaseUnavailable, match=hook):
            engine_create(connection, pooled=False)

        sqlite_engine = engine_create(
            DatabaseConnection(db_type="sqlite", database_name=SQLITE_FILE),
            pooled=False,
        )
        executed: list[str] = []
        event.listen(
            sqlite_engine,
            "before_cursor_execute",
            lambda conn, cursor, statement, *rest: executed.append(statement),
        )
        try:
            with pytest.raises(UnknownDatabaseType):
                sql_guard.query_run(
                    sqlite_engine,
                    db_type="half",
                    sql=SQL,
                    max_rows=5,
                    timeout_s=5,
                    check=False,
                )
        finally:
            sqlite_engine.dispose()
        assert not any("customers" in statement for statement in executed)


@pytest.mark.django_db
def test_the_api_answers_400_for_an_engine_whose_backend_is_incomplete(
    alice_client: Any, shop: Any
) -> None:
    with _registered(f"{__name__}.HalfWithout_sqlglot_dialect"):
        response = alice_client.post(
            "/databases/add_db_connection",
            {"db_type": "half", "database_name": SQLITE_FILE},
            format="json",
        )
    assert response.status_code == 400
    assert "db_type" in response.json()
