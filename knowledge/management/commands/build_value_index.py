"""python manage.py build_value_index <connection-id> [--json]"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections.models import DatabaseConnection
from knowledge.values import value_index_build, value_index_summary


class Command(BaseCommand):
    help = "Build a connection's value index now (in this process) and report it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection_id", type=int)
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            connection = DatabaseConnection.objects.get(pk=options["connection_id"])
        except DatabaseConnection.DoesNotExist as exc:
            raise CommandError(f"No connection {options['connection_id']}.") from exc
        index = value_index_build(connection=connection)
        summary = value_index_summary(connection=connection)
        if options["as_json"]:
            self.stdout.write(json.dumps(summary, default=str))
        else:
            self.stdout.write(
                f"{summary['status']}: {summary['values']} values of "
                f"{summary['columns']} columns, {summary['bytes']} bytes"
                + (f" ({summary['error']})" if summary["error"] else "")
            )
        if index.status == "failed":
            raise CommandError(f"The value index could not be built: {index.error}")
