from __future__ import annotations

from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The agent never imports this app: it asks the providers registered here.
        from django.db.models.signals import post_save

        from agent.context import context_provider_register
        from connections.models import DatabaseConnection
        from connections.signals import session_released
        from knowledge import versions  # noqa: F401  (its signals mark changes)
        from knowledge.retrieval import knowledge_context
        from knowledge.value_context import value_context
        from knowledge.values import on_connection_saved, on_session_bound

        # Values first: a table whose stored value the question names leads
        # the tables described with it on a big schema.
        context_provider_register(value_context)
        context_provider_register(knowledge_context)
        session_released.connect(
            on_session_bound, dispatch_uid="knowledge.values.connect", weak=False
        )
        post_save.connect(
            on_connection_saved,
            sender=DatabaseConnection,
            dispatch_uid="knowledge.values.privacy",
            weak=False,
        )
