"""Say which LLM asks will use, or plainly that none is set and how to set one."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand

from agent.exceptions import LLMNotConfigured
from agent.llm.chat_model import llm_settings
from agent.llm.text_protocol import protocol_report


class Command(BaseCommand):
    help = "Print the configured LLM (model and server), or how to configure one."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = llm_settings()
        except LLMNotConfigured as exc:
            if settings.LLM_PROVIDER.strip().lower() != "openai":
                # Another provider (or an unknown one) says what it misses itself.
                self.stdout.write(self.style.WARNING(exc.message))
                return
            self.stdout.write(
                self.style.WARNING(
                    "No LLM is configured: every question will be refused (503 "
                    "llm_not_configured).\nSet OPENAI_API_KEY=sk-... in .env for "
                    "OpenAI, or OPENAI_BASE_URL=http://host:port/v1 (plus "
                    "OPENAI_MODEL) for an OpenAI-compatible server, then run "
                    "`make run` again."
                )
            )
            return
        # Host and port only: a URL may carry credentials.
        parts = urlsplit(config.base_url)
        default = "api.openai.com" if config.provider == "openai" else "its default"
        server = parts.netloc.rpartition("@")[2] if parts.netloc else default
        self.stdout.write(
            f"LLM: {config.model} at {server} (LLM_PROVIDER={config.provider})"
        )
        self.stdout.write(protocol_report())
