"""Create the database cache table, so `migrate` alone readies a fresh install."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.db import migrations


def cache_table_create(apps: Any, schema_editor: Any) -> None:
    """Run createcachetable on this database; it does nothing for Redis or memory
    caches, and skips a table that already exists."""
    call_command(
        "createcachetable", database=schema_editor.connection.alias, verbosity=0
    )


class Migration(migrations.Migration):
    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.RunPython(cache_table_create, migrations.RunPython.noop),
    ]
