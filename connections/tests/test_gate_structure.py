"""No module builds an engine or opens a target database except through the gate.

`connections.engines.engine_create` is the one door: it puts the target policy
and the privilege check on every engine. The backends' raw
`engine_create_ungated`, SQLAlchemy's `create_engine` and the drivers' own
`connect` stay inside `connections/`, so a new path cannot open a target
connection without passing the gate.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Folders that are not the service: tests, their support, benchmarks, the
# virtualenv, migrations.
SKIPPED_PARTS = {
    "tests",
    "testsupport",
    "bench",
    "migrations",
    ".venv",
    "node_modules",
    "__pycache__",
}
# What only connections/ may call, and where inside it.
RAW_ENGINE = re.compile(r"\bengine_create_ungated\b|\b_engine_ungated\b")
RAW_ENGINE_HOMES = {"connections/engines.py", "connections/backends/"}
DRIVER_OPEN = re.compile(
    r"\bcreate_engine\s*\(|\bsqlite3\s*\.\s*connect\s*\(|\bpsycopg2?\s*\.\s*connect\s*\("
    r"|\bMySQLdb\s*\.\s*connect\s*\(|\b_mysql\s*\.\s*connect\s*\(|\bpool\s*\.\s*_creator\b"
    r"|\bcreate_async_engine\s*\("
)
DRIVER_HOMES = {"connections/backends/"}
# Opens a database that is not a user's connection, with the reason.
ALLOWED = {
    # Writes the demo SQLite file that a demo connection then opens (read-only,
    # through the gate); it never opens a user's database.
    "agent/management/commands/seed_demo.py": DRIVER_OPEN,
}


def _service_files(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*.py")
        if not SKIPPED_PARTS & set(path.relative_to(root).parts)
    )


def _at_home(relative: str, homes: set[str]) -> bool:
    return any(relative == h or relative.startswith(h) for h in homes)


def gate_bypasses(root: Path) -> list[str]:
    """Return `file:line: code` for each way around the gate in `root`."""
    found = []
    for path in _service_files(root):
        relative = path.relative_to(root).as_posix()
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            checks = (
                (RAW_ENGINE, RAW_ENGINE_HOMES),
                (DRIVER_OPEN, DRIVER_HOMES),
            )
            for pattern, homes in checks:
                if not pattern.search(code) or _at_home(relative, homes):
                    continue
                if ALLOWED.get(relative) is pattern:
                    continue
                found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_no_module_outside_connections_opens_a_target_database_around_the_gate():
    assert gate_bypasses(ROOT) == []


def test_the_structural_check_finds_each_kind_of_bypass(tmp_path: Path):
    planted = {
        "agent/new_path.py": (
            "from connections.backends import backend_for\n"
            "engine = backend_for('mysql').engine_create_ungated(conn, pooled=False)\n"
        ),
        "knowledge/raw.py": "import sqlalchemy\ne = sqlalchemy.create_engine(url)\n",
        "accounts/drivers.py": (
            "import psycopg, MySQLdb, sqlite3\n"
            "a = psycopg.connect(dsn)\n"
            "b = MySQLdb.connect(host=h)\n"
            "c = sqlite3.connect(path)\n"
        ),
        "agent/creator.py": "killer = engine.pool._creator(None)\n",
        "connections/views.py": "from connections.engines import _engine_ungated\n",
        # Where they belong, and tests: not reported.
        "connections/engines.py": "e = backend.engine_create_ungated(c, pooled=1)\n",
        "connections/backends/pg.py": "engine = create_engine(url)\n",
        "agent/tests/test_x.py": "engine = create_engine(url)\n",
    }
    for name, source in planted.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)

    found = gate_bypasses(tmp_path)

    assert [entry.split(":", 2)[0:2] for entry in found] == [
        ["accounts/drivers.py", "2"],
        ["accounts/drivers.py", "3"],
        ["accounts/drivers.py", "4"],
        ["agent/creator.py", "1"],
        ["agent/new_path.py", "2"],
        ["connections/views.py", "1"],
        ["knowledge/raw.py", "2"],
    ]


def test_every_engine_the_service_asks_for_comes_from_the_gated_function():
    """The modules that open the user's database import `engine_create` (or reach
    an engine through the session cache, which imports it), never a backend."""
    users = {
        path.relative_to(ROOT).as_posix()
        for path in _service_files(ROOT)
        if re.search(
            r"^from connections\.engines import .*\bengine_create\b",
            path.read_text(),
            re.MULTILINE,
        )
    }
    assert users >= {
        "agent/engines.py",
        "agent/schema_browser.py",
        "knowledge/evaluation.py",
        "knowledge/services.py",
    }
