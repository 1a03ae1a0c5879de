from __future__ import annotations

from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The agent never imports this app: it asks the providers registered here.
        from agent.context import context_provider_register
        from knowledge import versions  # noqa: F401  (its signals mark changes)
        from knowledge.retrieval import knowledge_context

        context_provider_register(knowledge_context)
