"""Settings a fresh checkout depends on: the .env it creates and the default app DB."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from sqlagent_project.envfile import main as envfile_main
from sqlagent_project.settings import BASE_DIR

EXAMPLE = BASE_DIR / ".env.example"


def _manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**base, "ENV_FILE": "/nonexistent/.env", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env_values(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


def test_a_fresh_env_file_gets_new_secrets_each_time(tmp_path):
    first, second = tmp_path / "a.env", tmp_path / "b.env"

    envfile_main(["envfile", str(EXAMPLE), str(first)])
    envfile_main(["envfile", str(EXAMPLE), str(second)])

    a, b = _env_values(first), _env_values(second)
    assert a["SECRET_KEY"] != "change-me"
    assert a["SECRET_KEY"] != b["SECRET_KEY"]
    assert a["FIELD_ENCRYPTION_KEY"] != b["FIELD_ENCRYPTION_KEY"]
    token = Fernet(a["FIELD_ENCRYPTION_KEY"].encode()).encrypt(b"x")
    assert Fernet(a["FIELD_ENCRYPTION_KEY"].encode()).decrypt(token) == b"x"
    assert oct(first.stat().st_mode & 0o777) == "0o600"


def test_an_existing_env_file_is_left_alone(tmp_path):
    target = tmp_path / ".env"
    target.write_text("SECRET_KEY=mine\n")

    envfile_main(["envfile", str(EXAMPLE), str(target)])

    assert target.read_text() == "SECRET_KEY=mine\n"


@pytest.mark.slow  # a manage.py subprocess
def test_the_default_sqlite_app_database_runs_in_wal_mode_with_immediate_transactions(
    tmp_path,
):
    database = tmp_path / "app.sqlite3"
    script = (
        "from django.db import connection\n"
        "cursor = connection.cursor()\n"
        "cursor.execute('PRAGMA journal_mode')\n"
        "print(cursor.fetchone()[0], connection.transaction_mode)\n"
    )
    result = _manage(
        ["shell", "-v", "0", "-c", script],
        {
            "SECRET_KEY": "x" * 50,
            "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": f"sqlite:///{database}",
        },
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "IMMEDIATE"]


@pytest.mark.slow  # a manage.py subprocess
def test_a_missing_secret_key_fails_loudly_naming_it():
    result = _manage(
        ["check"], {"FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    )

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


# `env.int("NAME"`, `env("NAME"`, `os.environ.get("NAME"`, also across lines.
_ENV_READ = re.compile(
    r"""(?:\benv(?:\.\w+)?|os\.environ\.get)\(\s*["']([A-Z][A-Z0-9_]*)["']"""
)


# settings.py gathers the topic modules of conf/.
@pytest.mark.parametrize(
    ("patterns", "at_least"),
    [(("settings.py", "conf/*.py"), 40), (("gunicorn.conf.py",), 10)],
)
def test_every_variable_settings_reads_is_documented_in_env_example(patterns, at_least):
    folder = BASE_DIR / "sqlagent_project"
    source = "\n".join(
        path.read_text() for pattern in patterns for path in folder.glob(pattern)
    )
    documented = {
        match.group(1)
        for match in re.finditer(r"^#? ?([A-Z][A-Z0-9_]*)=", EXAMPLE.read_text(), re.M)
    }
    read = set(_ENV_READ.findall(source))

    assert len(read) > at_least  # the scan finds the settings, not nothing
    assert sorted(read - documented) == []
