"""What a model provider is: settings read, a chat model built, its errors and
its stop reasons told in the service's own words.

The budget and the CPU slot are not a provider's job: `agent.llm.budget` wraps
whatever chat model a provider builds.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage

from sqlagent_project.errors import ApplicationError


@dataclass(frozen=True)
class LLMSettings:
    """One configured model: what a provider needs to build its chat model."""

    model: str
    api_key: str
    base_url: str
    timeout_s: float
    max_retries: int
    temperature: float
    max_tokens: int | None = None
    provider: str = "openai"
    # Azure OpenAI's api-version (the deployment is `model`, the endpoint `base_url`).
    api_version: str = ""

    @property
    def cache_key(self) -> str:
        parts = (
            self.provider,
            self.model,
            self.base_url,
            self.api_key,
            self.timeout_s,
            self.max_retries,
            self.temperature,
            self.max_tokens,
            self.api_version,
        )
        raw = "|".join(map(str, parts))
        return hashlib.sha256(raw.encode()).hexdigest()


class Provider(ABC):
    """One vendor's chat models behind the service's vocabulary."""

    # True when the provider's client itself caps every try of a call at what is
    # left of the ask's budget (`budget.model_time_left`) and hands the CPU slot
    # over while it waits on the network (finer than around the whole call: the
    # request is built and the reply parsed inside the slot). False: each call
    # runs beside a watchdog that gives up when the budget is spent, the slot
    # handed over for the whole call.
    bounds_its_calls: ClassVar[bool] = False

    @abstractmethod
    def settings_read(self) -> LLMSettings:
        """Return the configured model, or raise LLMNotConfigured."""

    @abstractmethod
    def chat_model_create(self, config: LLMSettings) -> BaseChatModel:
        """Return the LangChain chat model for `config` (not yet bounded)."""

    @abstractmethod
    def llm_error(self, exc: Exception) -> ApplicationError | None:
        """Return the service's error for one of this provider's errors (and log
        what the operator needs, at WARNING); None for an error not its own."""

    @abstractmethod
    def cut_off(self, message: AIMessage) -> bool:
        """Say whether the model stopped this reply at its token cap."""

    @abstractmethod
    def refused(self, message: AIMessage) -> bool:
        """Say whether the model (or its provider's filter) refused this reply."""
