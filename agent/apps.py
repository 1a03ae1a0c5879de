from __future__ import annotations

from django.apps import AppConfig


class AgentConfig(AppConfig):
    name = "agent"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agent.engines import engine_cache
        from connections.signals import session_released

        def _release(sender: object, session_id: object, **kwargs: object) -> None:
            engine_cache.evict(str(session_id))

        session_released.connect(
            _release, dispatch_uid="agent.engine_cache.release", weak=False
        )

        from accounts.me import me_section_register
        from agent.budgets import budgets_for_user

        # GET /auth/me shows what is left of today's budgets.
        me_section_register(budgets_for_user)
