"""manage.py import_examples <connection-id> FILE [--set NAME] [--map query=sql]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections.models import DatabaseConnection
from knowledge.imports import examples_import
from sqlagent_project.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Import question/SQL pairs (CSV, JSONL or a JSON array with question and "
        "sql, optional instructions) as verified examples, or with --set as a "
        "golden set."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection_id", type=int)
        parser.add_argument("file")
        parser.add_argument("--set", dest="set_name", default=None)
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            help="Rename a column, e.g. --map query=sql (query is understood already).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            connection = DatabaseConnection.objects.get(pk=options["connection_id"])
        except DatabaseConnection.DoesNotExist as exc:
            raise CommandError(f"No connection {options['connection_id']}.") from exc
        set_name = options["set_name"]
        if set_name is not None and not 0 < len(set_name) <= 100:
            raise CommandError("--set wants a name of 1 to 100 characters.")
        mapping = {}
        for pair in options["map"]:
            source, _, target = pair.partition("=")
            if not source or not target:
                raise CommandError(f"--map wants FROM=TO, not {pair!r}.")
            mapping[source] = target
        try:
            text = Path(options["file"]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {options['file']}: {exc}") from exc
        try:
            report = examples_import(
                connection=connection,
                text=text,
                set_name=set_name,
                mapping=mapping,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        for line, reason in report.errors:
            self.stderr.write(f"line {line}: {reason}")
        target = f"golden set {set_name!r}" if set_name else "examples"
        self.stdout.write(
            f"Imported {report.created} into {target}; "
            f"{len(report.errors)} lines skipped."
        )
