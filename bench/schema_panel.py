"""`python -m bench.schema_panel`: how fast the schema panel opens on big schemas.

The panel lists tables by name (one inspector call) and describes a table only
when it is opened. Measured through the same engine factory the service uses, on
SQLite files of 200, 2,000 and 10,000 tables; median of 5 runs each.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _database(folder: Path, tables: int) -> str:
    name = f"panel_{tables}.sqlite3"
    connection = sqlite3.connect(folder / name)
    connection.executescript(
        "".join(
            f"CREATE TABLE t_{i:05d} (id INTEGER PRIMARY KEY, name TEXT, "
            "amount NUMERIC, created DATE);"
            for i in range(tables)
        )
    )
    connection.commit()
    connection.close()
    return name


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="sqlagent-panel-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sqlagent_project.settings")
    os.environ.setdefault("SECRET_KEY", "bench-not-a-secret")
    os.environ.setdefault(
        "FIELD_ENCRYPTION_KEY", "Y2Y5N2E0NjQ0ZDQ3NDc3ZmE3ZTBiZWI1YjYxZTFlM2M="
    )
    os.environ["SQLITE_DATABASES_DIR"] = str(folder)
    import django

    django.setup()
    from sqlalchemy import inspect

    from connections.engines import engine_create
    from connections.models import DatabaseConnection

    print("| tables | open the panel (list names), ms | describe one table, ms |")
    print("|---:|---:|---:|")
    for tables in (200, 2000, 10000):
        name = _database(folder, tables)
        connection = DatabaseConnection(db_type="sqlite", database_name=name)
        listing, describing = [], []
        for _ in range(5):
            started = time.perf_counter()
            engine = engine_create(connection, pooled=False)
            inspector = inspect(engine)
            names = inspector.get_table_names() + inspector.get_view_names()
            listed = time.perf_counter()
            inspector.get_columns(names[len(names) // 2])
            inspector.get_pk_constraint(names[len(names) // 2])
            inspector.get_foreign_keys(names[len(names) // 2])
            described = time.perf_counter()
            engine.dispose()
            listing.append((listed - started) * 1000)
            describing.append((described - listed) * 1000)
        print(
            f"| {tables} | {statistics.median(listing):.0f} | "
            f"{statistics.median(describing):.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
