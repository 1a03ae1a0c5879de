"""Probe the configured model and print a verdict with what to set."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from agent.llm.check import llm_check_run


class Command(BaseCommand):
    help = (
        "Ask the configured LLM a few probing requests (reachable, model name, "
        "tool calling native or text, streaming, context size where the server "
        "tells it) and print a verdict with what to set."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = llm_check_run()
        for line in report.lines():
            style = self.style.SUCCESS if line.startswith("Verdict: Usable") else None
            if line.startswith(("Problem:", "Verdict: Not", "Verdict: Poor")):
                style = self.style.WARNING
            self.stdout.write(style(line) if style else line)
