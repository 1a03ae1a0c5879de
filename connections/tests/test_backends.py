"""Engine backends: one registry (a setting), every hook implemented, none missing."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from connections import target_policy
from connections.backends import (
    DatabaseBackend,
    UnknownDatabaseType,
    backend_for,
    backends,
    db_type_choices,
    registered,
)
from connections.backends.base import hooks_missing
from connections.backends.sqlite import SQLiteBackend
from connections.models import DatabaseConnection

HOOKS = [
    name
    for name, member in vars(DatabaseBackend).items()
    if not name.startswith("_")
    and (isinstance(member, property) or inspect.isfunction(member))
]


class SecondSQLite(SQLiteBackend):
    """An engine added by one module and one registration line."""

    db_type = "sqlite2"
    label = "SQLite, again"


class Misnamed(SQLiteBackend):
    """Registered under a name it does not carry."""


def test_every_registered_backend_implements_every_hook():
    assert [b.db_type for b in backends()] == list(registered())
    for backend in backends():
        assert hooks_missing(backend) == [], type(backend).__name__
        for hook in HOOKS:
            member = getattr(type(backend), hook)
            assert member is not vars(DatabaseBackend)[hook], hook


def test_the_base_backend_refuses_every_hook_loudly():
    base = DatabaseBackend()
    assert hooks_missing(base) == HOOKS
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
    assert db_type_choices() == [(b.db_type, b.label) for b in backends()]
    assert [value for value, _ in db_type_choices()] == [
        "postgresql",
        "mysql",
        "sqlite",
    ]


def test_one_registration_line_adds_an_engine_to_the_choices():
    field = DatabaseConnection._meta.get_field("db_type")
    with override_settings(
        DATABASE_BACKENDS={
            **settings.DATABASE_BACKENDS,
            "sqlite2": f"{__name__}.SecondSQLite",
        }
    ):
        assert ("sqlite2", "SQLite, again") in field.choices
        assert backend_for("sqlite2").is_file
    assert "sqlite2" not in dict(field.choices or [])


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("connections.backends.nowhere.Backend", "cannot be loaded"),
        ("connections.models.DatabaseConnection", "not a DatabaseBackend"),
        (f"{__name__}.Misnamed", "says it is 'sqlite'"),
    ],
)
def test_a_backend_that_does_not_load_as_registered_is_refused(path, reason):
    with override_settings(
        DATABASE_BACKENDS={**settings.DATABASE_BACKENDS, "other": path}
    ):
        with pytest.raises(UnknownDatabaseType, match=reason):
            backend_for("other")
        assert "other" not in dict(db_type_choices())


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


# Where an engine's name may still be written outside its backend, and why.
ENGINE_NAME_ALLOWED = {
    "sqlagent_project/conf/targets.py": "the DATABASE_BACKENDS registration lines",
    "agent/management/commands/seed_demo.py": "the demo is a SQLite file",
    "sqlagent_project/capacity.py": "the app's own database, not a target",
}
ENGINE_NAME = re.compile(r"""["'](?:postgresql|postgres|mysql|sqlite)["']|DbType\.""")


def test_no_engine_is_named_outside_its_backend():
    root = Path(__file__).resolve().parents[2]
    found = []
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.html")]):
        relative = path.relative_to(root).as_posix()
        parts = relative.split("/")
        if (
            parts[0] in {".venv", "testsupport", "bench"}
            or "tests" in parts
            or "migrations" in parts
            or relative.startswith("connections/backends/")
            or relative in ENGINE_NAME_ALLOWED
        ):
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if ENGINE_NAME.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert found == []
