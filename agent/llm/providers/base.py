"""What a model provider is: settings read, a chat model built, its errors and
its stop reasons told in the service's own words.

The budget and the CPU slot are not a provider's job: `agent.llm.budget` wraps
whatever chat model a provider builds.
"""

from __future__ import annotations

import hashlib
import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from django.conf import settings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage

from agent.exceptions import LLMBusy, LLMTimeout, LLMUnavailable, PromptTooLong
from sqlagent_project.errors import ApplicationError

logger = logging.getLogger("agent.llm")


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


@dataclass(frozen=True)
class SdkErrors:
    """A vendor SDK's error classes, by what they mean to the service, and what
    an operator should check when the model cannot be reached or refuses the key."""

    timeout: type[Exception]
    unreachable: type[Exception]
    authentication: tuple[type[Exception], ...]
    # A request the server refused, and the pattern of its words for "over the
    # context window".
    bad_request: type[Exception]
    context_overflow: re.Pattern[str]
    # Any other answer with an HTTP status (its `status_code`).
    status: type[Exception]
    unreachable_advice: str
    authentication_advice: str
    # Rate limited or overloaded: try again later.
    busy: tuple[type[Exception], ...] = ()
    busy_statuses: frozenset[int] = frozenset()


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

    def sdk_error_told(self, exc: Exception, sdk: SdkErrors) -> ApplicationError:
        """Return the service's error for an error of the provider's SDK, logging
        at WARNING what the operator needs (never the key or the prompt)."""
        retries = settings.LLM_MAX_RETRIES
        status: Any = getattr(exc, "status_code", None)
        if isinstance(exc, sdk.timeout):
            logger.warning(
                "llm failed reason=timeout timeout_s=%g retries=%d",
                settings.LLM_TIMEOUT_S,
                retries,
            )
            return LLMTimeout(
                "The language model did not answer within "
                f"{settings.LLM_TIMEOUT_S:g} s."
            )
        if isinstance(exc, sdk.unreachable):
            logger.warning(
                "llm failed reason=unreachable retries=%d advice='%s' error=%s",
                retries,
                sdk.unreachable_advice,
                type(exc.__cause__ or exc).__name__,
            )
            return LLMUnavailable()
        if isinstance(exc, sdk.authentication):
            logger.warning(
                "llm failed reason=authentication status=%s advice='%s'",
                status,
                sdk.authentication_advice,
            )
            return LLMUnavailable()
        if isinstance(exc, sdk.busy) or (
            isinstance(exc, sdk.status) and status in sdk.busy_statuses
        ):
            logger.warning(
                "llm failed reason=%s status=%s retries=%d",
                "rate_limited" if status == 429 else "overloaded",
                status,
                retries,
            )
            return LLMBusy()
        if isinstance(exc, sdk.bad_request) and sdk.context_overflow.search(str(exc)):
            logger.warning("llm failed reason=prompt_too_long status=%s", status)
            return PromptTooLong()
        if isinstance(exc, sdk.status):
            logger.warning(
                "llm failed reason=http_status status=%s retries=%d", status, retries
            )
            return LLMUnavailable(
                f"The language model answered with an error (HTTP {status})."
            )
        logger.warning("llm failed reason=%s", type(exc).__name__)
        return LLMUnavailable()
