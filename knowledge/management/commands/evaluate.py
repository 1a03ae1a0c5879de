"""python manage.py evaluate <connection-id> [--set NAME] [--limit N] [--json]
[--retrieval]"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections.models import DatabaseConnection
from knowledge.evaluation import (
    golden_items,
    run_execute,
    run_start,
    session_engine_for,
)
from knowledge.linking import linking_report
from knowledge.models import GoldenSet
from knowledge.selectors import previous_run


class Command(BaseCommand):
    help = "Run the agent over a golden set and report its execution accuracy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("connection_id", type=int)
        parser.add_argument("--set", dest="set_name", default=None)
        parser.add_argument("--limit", type=int, default=None)
        parser.add_argument("--json", action="store_true", dest="as_json")
        parser.add_argument(
            "--retrieval",
            action="store_true",
            help="Measure schema linking only (no model call): per question, the "
            "gold tables, the tables the first request describes, the missed ones.",
        )

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
        if options["retrieval"]:
            self._retrieval(connection, set_name, options["limit"], options["as_json"])
            return
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

    def _retrieval(
        self,
        connection: DatabaseConnection,
        set_name: str | None,
        limit: int | None,
        as_json: bool,
    ) -> None:
        """Print the schema-linking report of the set (knowledge.linking)."""
        items = golden_items(connection=connection, set_name=set_name)[:limit]
        session_engine = session_engine_for(connection)
        try:
            report = linking_report(
                connection=connection, items=items, session_engine=session_engine
            )
        finally:
            session_engine.engine.dispose()
        if as_json:
            self.stdout.write(json.dumps(report))
            return
        for row in report["items"]:
            described = ", ".join(
                f"{d['table']} ({d['why']})" for d in row["described_tables"]
            )
            missed = ", ".join(row["missed_tables"]) or "none"
            self.stdout.write(
                f"{row['position']:>4} {row['question']}\n"
                f"     gold: {', '.join(row['gold_tables']) or '(unparsed)'}\n"
                f"     described: {described or 'none'}\n"
                f"     missed: {missed}"
            )
        recall = report["recall"]
        self.stdout.write(
            f"Schema linking: {report['all_gold_described']}/{report['questions']} "
            "questions with every gold table described"
            + (f" ({recall:.1%})" if recall is not None else "")
        )
