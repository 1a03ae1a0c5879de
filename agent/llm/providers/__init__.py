"""The model providers, chosen by LLM_PROVIDER.

A new provider is one module here with a `Provider` subclass (see base.py) and
one line in PROVIDERS; the budget and the CPU slot come with it (agent.llm.budget).
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.utils.module_loading import import_string

from agent.exceptions import LLMNotConfigured
from agent.llm.providers.base import LLMSettings, Provider

# LLM_PROVIDER value -> its Provider class, by dotted path (imported when chosen,
# so a provider's SDK is only needed by those who use it).
PROVIDERS: dict[str, str] = {
    "openai": "agent.llm.providers.openai_compatible.OpenAICompatibleProvider",
    "azure": "agent.llm.providers.azure.AzureOpenAIProvider",
    "anthropic": "agent.llm.providers.anthropic.AnthropicProvider",
}

_providers: dict[str, Provider] = {}
_providers_lock = threading.Lock()


def provider_get(name: str | None = None) -> Provider:
    """Return the provider called `name` (the configured one by default)."""
    name = (name or settings.LLM_PROVIDER).strip().lower()
    path = PROVIDERS.get(name)
    if path is None:
        raise LLMNotConfigured(
            f"LLM_PROVIDER={name!r} is not a known provider; use one of: "
            + ", ".join(sorted(PROVIDERS))
            + "."
        )
    with _providers_lock:
        provider = _providers.get(path)
        if provider is None:
            provider = import_string(path)()
            _providers[path] = provider
    return provider


__all__ = ["PROVIDERS", "LLMSettings", "Provider", "provider_get"]
