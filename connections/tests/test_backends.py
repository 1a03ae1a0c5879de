"""Engine backends: one registry, every hook implemented, a missing one fails closed."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from sqlalchemy import Engine, event

from agent.sql_guard import query_run
from connections import target_policy
from connections.backends import (
    BACKENDS,
    DatabaseBackend,
    UnknownDatabaseType,
    backend_for,
)
from connections.engines import engine_create
from connections.models import DbType

HOOKS = [
    name
    for name, member in vars(DatabaseBackend).items()
    if not name.startswith("_")
    and (isinstance(member, property) or inspect.isfunction(member))
]


class HalfBackend(DatabaseBackend):
    """An engine someone started to add: it can open SQLite, nothing more."""

    def engine_create_ungated(self, conn: Any, *, pooled: bool) -> Engine:
        return BACKENDS["sqlite"].engine_create_ungated(conn, pooled=pooled)

    def is_timeout(self, exc: BaseException) -> bool:
        return False


@pytest.fixture
def half_registered(monkeypatch: pytest.MonkeyPatch) -> DatabaseBackend:
    backend = HalfBackend()
    monkeypatch.setitem(BACKENDS, "half", backend)
    return backend


def test_every_registered_backend_implements_every_hook():
    for backend in BACKENDS.values():
        missing = []
        for hook in HOOKS:
            member = getattr(type(backend), hook)
            if member is vars(DatabaseBackend)[hook]:
                missing.append(hook)
        assert missing == [], f"{type(backend).__name__} lacks {missing}"


def test_the_base_backend_refuses_every_hook_loudly():
    base = DatabaseBackend()
    for hook in HOOKS:
        member = getattr(DatabaseBackend, hook)
        if isinstance(member, property):
            call: Any = member.fget
            args: list[Any] = []
            kwargs: dict[str, Any] = {}
        else:
            call = member
            params = list(inspect.signature(member).parameters.values())[1:]
            args = [None for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
            kwargs = {p.name: None for p in params if p.kind is p.KEYWORD_ONLY}
        with pytest.raises(NotImplementedError, match=hook):
            call(base, *args, **kwargs)


def test_db_type_choices_are_the_registered_backends_with_their_labels():
    assert DbType.choices == [(b.db_type, b.label) for b in BACKENDS.values()]
    assert DbType.values == ["postgresql", "mysql", "sqlite"]


def test_an_unknown_database_type_is_refused_by_name():
    with pytest.raises(UnknownDatabaseType, match="'oracle'"):
        backend_for("oracle")


def test_driver_options_are_checked_against_the_backends_allow_list():
    assert target_policy.validate_options("postgresql", {"sslmode": "require"}) == {
        "sslmode": "require"
    }
    with pytest.raises(target_policy.TargetRefused, match="not allowed for mysql"):
        target_policy.validate_options("mysql", {"init_command": "SET x=1"})
    with pytest.raises(target_policy.TargetRefused, match="Unknown database type"):
        target_policy.validate_options("oracle", {})


@pytest.mark.django_db
def test_a_backend_registered_without_its_hooks_fails_at_first_use_and_runs_nothing(
    alice: Any, make_connection: Any, half_registered: DatabaseBackend
):
    connection = make_connection(alice, "sqlite")
    engine = engine_create(connection)
    executed: list[str] = []
    event.listen(
        engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *rest: executed.append(statement),
    )
    try:
        with pytest.raises(NotImplementedError, match="begin_read_only"):
            query_run(
                engine,
                db_type="half",
                sql="SELECT count(*) FROM orders",
                max_rows=10,
                timeout_s=5,
                check=False,
            )
    finally:
        engine.dispose()

    assert not any("orders" in statement for statement in executed)


@pytest.mark.django_db
def test_a_connection_check_on_a_backend_without_a_version_query_fails_loudly(
    alice: Any, make_connection: Any, half_registered: DatabaseBackend
):
    from connections.engines import connection_check

    connection = make_connection(alice, "sqlite")
    connection.db_type = "half"

    with pytest.raises(NotImplementedError, match="version_sql"):
        connection_check(connection)


def _connect_params(options: dict[str, str]) -> dict[str, object]:
    from sqlalchemy import event

    from connections.engines import engine_create
    from connections.models import DatabaseConnection

    connection = DatabaseConnection(
        db_type="mysql",
        host="localhost",
        port=3306,
        database_name="x",
        username="u",
        options=options,
    )
    engine = engine_create(connection, pooled=False)
    seen: dict[str, object] = {}

    @event.listens_for(engine, "do_connect")
    def _capture(dialect, conn_rec, cargs, cparams):  # runs after the pinning
        seen.update(cparams)
        raise RuntimeError("captured")

    with pytest.raises(Exception, match="captured"):
        engine.connect()
    engine.dispose()
    return seen


def test_mysql_connects_to_the_checked_address_by_default():
    assert _connect_params({})["host"] in {"127.0.0.1", "::1"}


def test_mysql_verify_identity_keeps_the_host_name_for_the_certificate_check():
    assert _connect_params({"ssl_mode": "VERIFY_IDENTITY"})["host"] == "localhost"
