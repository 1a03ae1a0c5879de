"""python manage.py evaluate <connection-id> [--set NAME] [--limit N] [--json]"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections.models import DatabaseConnection
from knowledge.evaluation import previous_run, run_execute, run_start
from knowledge.models import GoldenSet


class Command(BaseCommand):
    help = "Run the agent over a golden set and report its execution accuracy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection_id", type=int)
        parser.add_argument("--set", dest="set_name", default=None)
        parser.add_argument("--limit", type=int, default=None)
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            connection = DatabaseConnection.objects.get(pk=options["connection_id"])
        except DatabaseConnection.DoesNotExist as exc:
            raise CommandError(f"No connection {options['connection_id']}.") from exc
        set_name = options["set_name"]
        if (
            set_name
            and not GoldenSet.objects.filter(
                connection=connection, name=set_name
            ).exists()
        ):
            raise CommandError(f"No golden set {set_name!r} on this connection.")
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")
        run = run_start(
            connection=connection, set_name=set_name, limit=options["limit"]
        )
        run = run_execute(run=run)
        previous = previous_run(run)
        summary = {
            "run_id": run.pk,
            "status": run.status,
            "accuracy": run.accuracy,
            "correct": run.correct,
            "total": run.total,
            "unanswered": run.unanswered,
            "ci_low": run.ci_low,
            "ci_high": run.ci_high,
            "previous_accuracy": previous.accuracy if previous else None,
            "model": run.model,
            "prompt_version": run.prompt_version,
        }
        outcomes: dict[str, int] = {}
        for result in run.results.all():
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        summary["outcomes"] = outcomes
        if options["as_json"]:
            self.stdout.write(json.dumps(summary))
            return
        for result in run.results.all():
            self.stdout.write(
                f"{result.position:>4} {result.outcome:<11} {result.question}"
            )
        accuracy = f"{run.accuracy:.1%}" if run.accuracy is not None else "n/a"
        answered = run.total - run.unanswered
        incomplete = (
            f" INCOMPLETE: {run.unanswered} question(s) could not be asked;"
            if run.unanswered
            else ""
        )
        self.stdout.write(
            f"Run {run.pk}:{incomplete} {run.correct}/{answered} answered correct, "
            f"accuracy {accuracy} "
            f"(95% CI {run.ci_low:.1%}-{run.ci_high:.1%})"
            + (
                f"; previous run {previous.accuracy:.1%}"
                if previous and previous.accuracy is not None
                else ""
            )
        )
