"""Model providers behind one seam: any provider's chat model keeps to the ask's
budget and hands its CPU slot over while it waits; each provider words its own
errors and cut-off replies in the service's vocabulary."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from django.core.management import call_command
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from agent.exceptions import (
    AskCancelled,
    LLMNotConfigured,
    LLMTimeout,
    LLMUnavailable,
    PromptTooLong,
)
from agent.llm import providers
from agent.llm.budget import (
    AskBudgetSpent,
    BoundedChatModel,
    model_calls_stoppable,
    model_time_budget,
)
from agent.llm.providers import LLMSettings, Provider, provider_get
from agent.llm.providers.openai_compatible import (
    OpenAICompatibleProvider,
    _BudgetSpentOnTheWire,
)
from sqlagent_project import capacity

# How long the fake model blocks unless the test lets it go: far past any budget.
BLOCK_S = 60

_entered = threading.Event()
_release = threading.Event()


class BlockingChatModel(BaseChatModel):
    """A chat model of no known SDK that blocks until released (a model server
    that accepted the request and never answers)."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "blocking-fake"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self.bind()

    def _generate(self, messages: Any, stop: Any = None, **kwargs: Any) -> ChatResult:
        self.calls += 1
        _entered.set()
        _release.wait(BLOCK_S)
        return ChatResult(generations=[ChatGeneration(message=AIMessage("Too late."))])

    def _stream(
        self, messages: Any, stop: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        self.calls += 1
        yield ChatGenerationChunk(message=AIMessageChunk(content="Thinking"))
        _entered.set()
        _release.wait(BLOCK_S)
        yield ChatGenerationChunk(message=AIMessageChunk(content=" too late."))


class BlockingProvider(Provider):
    """A provider registered the way a new one is: a Provider subclass and one
    PROVIDERS line. It says nothing of budgets or CPU slots."""

    def settings_read(self) -> LLMSettings:
        return LLMSettings(
            model="blocking-1",
            api_key="",
            base_url="",
            timeout_s=BLOCK_S,
            max_retries=0,
            temperature=0,
            provider="blocking",
        )

    def chat_model_create(self, config: LLMSettings) -> BaseChatModel:
        return BlockingChatModel()

    def llm_error(self, exc: Exception) -> Any:
        return None

    def cut_off(self, message: AIMessage) -> bool:
        return False

    def refused(self, message: AIMessage) -> bool:
        return False


@pytest.fixture
def blocking_provider(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(
        providers.PROVIDERS, "blocking", f"{__name__}.{BlockingProvider.__name__}"
    )
    settings.LLM_PROVIDER = "blocking"
    _entered.clear()
    _release.clear()
    yield
    _release.set()  # the abandoned call ends


def _slot_taken_while_the_model_blocks(taken: list[float]) -> threading.Thread:
    """Start a thread that, once the model blocks, takes the one CPU slot and
    notes when it got it (a slot held through the wait frees only at the end)."""

    def take() -> None:
        if not _entered.wait(10):
            return
        semaphore = capacity._cpu_slots.get()
        if semaphore.acquire(timeout=10):
            taken.append(time.monotonic())
            semaphore.release()

    thread = threading.Thread(target=take)
    thread.start()
    return thread


def test_a_blocking_model_of_another_provider_keeps_the_budget_and_frees_the_slot(
    db, settings, alice, alice_client, connected_session, blocking_provider
):
    """Through /ask with a provider that knows nothing of budgets or slots: while
    its model blocks, another ask can take the only CPU slot, and the ask ends as
    the budget says (504 llm_timeout), not when the model lets go."""
    from agent.engines import engine_cache
    from agent.llm import agent_get
    from agent.models import Turn

    settings.ASK_CPU_SLOTS = 1
    settings.LLM_ASK_BUDGET_S = 3.0
    # The schema read and prompt built beforehand: the budget goes to the model.
    session = connected_session(alice, "sqlite")
    agent_get(engine_cache.get(session), BlockingChatModel(), None)
    taken: list[float] = []
    taker = _slot_taken_while_the_model_blocks(taken)

    started = time.monotonic()
    response = alice_client.post(
        "/ask", {"question": "How many customers?"}, format="json"
    )
    returned = time.monotonic()
    taker.join(15)

    assert _entered.is_set(), "the model was never called"
    assert taken, "the CPU slot never came free"
    # Taken while the ask still waited on the model, not when it gave up.
    assert returned - taken[0] > 1.0, "the CPU slot was held while the model blocked"
    assert response.status_code == 504
    body = response.json()
    assert body["code"] == "llm_timeout"
    assert "3 s" in body["detail"]
    assert returned - started < BLOCK_S / 3  # the budget ended it, not the model
    turn = Turn.objects.get()
    assert turn.status == "error"
    assert turn.error_code == "llm_timeout"
    assert capacity._cpu_slots.get()._value == 1  # the slot handed back


def test_a_model_handed_to_the_ask_is_bounded_too(
    db, settings, alice, connected_session, blocking_provider
):
    """Tests and evaluation pass their own model: it keeps to the budget as well."""
    from agent.engines import engine_cache
    from agent.llm import agent_get
    from agent.services import thread_ask

    settings.LLM_PROVIDER = "openai"
    settings.LLM_ASK_BUDGET_S = 3.0
    session = connected_session(alice, "sqlite")
    agent_get(engine_cache.get(session), BlockingChatModel(), None)

    started = time.monotonic()
    with pytest.raises(LLMTimeout) as raised:
        thread_ask(user=alice, question="Anyone?", chat_model=BlockingChatModel())

    assert _entered.is_set(), "the model was never called"
    assert time.monotonic() - started < BLOCK_S / 3
    assert "3 s" in raised.value.message


def test_a_blocked_stream_is_stopped_at_the_budget_with_the_slot_free(
    settings, blocking_provider
):
    settings.ASK_CPU_SLOTS = 1
    model = BoundedChatModel.wrap(BlockingChatModel(), bounds_its_calls=False)
    taken: list[float] = []
    chunks: list[str] = []

    with capacity.ask_cpu_turns(), model_time_budget(2.0):
        taker = _slot_taken_while_the_model_blocks(taken)
        with pytest.raises(AskBudgetSpent):
            chunks.extend(str(c.content) for c in model.stream([HumanMessage("Hi")]))
        stopped = time.monotonic()
    taker.join(15)

    assert chunks == ["Thinking"]
    assert taken
    assert stopped - taken[0] > 1.0
    assert capacity._cpu_slots.get()._value == 1


def test_no_call_starts_once_the_budget_is_spent():
    inner = BlockingChatModel()
    model = BoundedChatModel.wrap(inner, bounds_its_calls=False)

    with model_time_budget(0), pytest.raises(AskBudgetSpent):
        model.invoke([HumanMessage("Hi")])
    with model_time_budget(0), pytest.raises(AskBudgetSpent):
        list(model.stream([HumanMessage("Hi")]))

    assert inner.calls == 0
    # The service's own signal: no SDK retries or wraps it as one of its errors.
    assert not issubclass(AskBudgetSpent, openai.OpenAIError)


def test_a_provider_error_once_the_budget_is_spent_is_the_budgets():
    class Refusing(BlockingChatModel):
        def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
            time.sleep(0.2)
            raise _BudgetSpentOnTheWire()

    model = BoundedChatModel.wrap(Refusing(), bounds_its_calls=True)
    with model_time_budget(0.1), pytest.raises(AskBudgetSpent):
        model.invoke([HumanMessage("Hi")])
    # Within the budget, the provider's error is passed up as it is.
    with model_time_budget(5), pytest.raises(_BudgetSpentOnTheWire):
        model.invoke([HumanMessage("Hi")])


def test_a_tool_binding_that_would_bypass_the_bound_is_refused():
    class Unbound(BlockingChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self | (lambda message: message)

    with pytest.raises(TypeError, match="not a binding of the model itself"):
        BoundedChatModel.wrap(Unbound(), bounds_its_calls=False).bind_tools([])


def test_an_unknown_provider_is_refused_as_not_configured(
    db, settings, alice, alice_client, make_connection
):
    settings.LLM_PROVIDER = "nosuch"
    with pytest.raises(LLMNotConfigured, match="openai"):
        provider_get()
    connection = make_connection(alice, "sqlite")
    alice_client.post(f"/databases/connect_db/{connection.id}")

    response = alice_client.post("/ask", {"question": "Hi?"}, format="json")

    assert response.status_code == 503
    assert response.json()["code"] == "llm_not_configured"
    assert "LLM_PROVIDER='nosuch'" in response.json()["detail"]
    out = io.StringIO()
    call_command("llm_status", stdout=out)
    assert "LLM_PROVIDER='nosuch' is not a known provider" in out.getvalue()


_REQUEST = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def _status_error(kind: type[openai.APIStatusError], status: int, text: str) -> Any:
    response = httpx2.Response(status, request=_REQUEST, json={"error": text})
    return kind(text, response=response, body={"error": text})


@pytest.mark.parametrize(
    ("error", "expected", "code_detail"),
    [
        (openai.APITimeoutError(request=_REQUEST), LLMTimeout, "within 60 s"),
        (openai.APIConnectionError(request=_REQUEST), LLMUnavailable, "reached"),
        (
            _status_error(openai.AuthenticationError, 401, "bad key"),
            LLMUnavailable,
            "reached",
        ),
        (
            _status_error(
                openai.BadRequestError, 400, "maximum context length is 8192 tokens"
            ),
            PromptTooLong,
            "context window",
        ),
        (
            _status_error(openai.BadRequestError, 400, "n_ctx exceeded"),
            PromptTooLong,
            "context window",
        ),
        (
            _status_error(openai.BadRequestError, 400, "unknown field"),
            LLMUnavailable,
            "HTTP 400",
        ),
        (
            _status_error(openai.RateLimitError, 429, "slow down"),
            LLMUnavailable,
            "HTTP 429",
        ),
        (
            _status_error(openai.InternalServerError, 500, "boom"),
            LLMUnavailable,
            "HTTP 500",
        ),
    ],
)
def test_openai_errors_are_told_in_the_services_words(
    settings, error, expected, code_detail
):
    settings.LLM_TIMEOUT_S = 60

    mapped = OpenAICompatibleProvider().llm_error(error)

    assert type(mapped) is expected
    assert code_detail in mapped.message


def test_an_error_not_the_providers_is_left_to_the_caller():
    assert OpenAICompatibleProvider().llm_error(ValueError("a bug")) is None


@pytest.mark.parametrize(
    ("metadata", "cut"),
    [
        ({"finish_reason": "length"}, True),
        ({"finish_reason": "stop"}, False),
        ({"finish_reason": "tool_calls"}, False),
        ({}, False),
        # Anthropic's word for it is not OpenAI's: its provider says so itself.
        ({"stop_reason": "max_tokens"}, False),
    ],
)
def test_openai_says_a_reply_was_cut_off_by_its_finish_reason(metadata, cut):
    message = AIMessage("Partial", response_metadata=metadata)

    assert OpenAICompatibleProvider().cut_off(message) is cut


def test_the_configured_provider_builds_a_bounded_model(settings):
    from agent.llm.chat_model import chat_model_create, llm_settings

    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    config = llm_settings()
    model = chat_model_create(config)

    assert config.provider == "openai"
    assert isinstance(model, BoundedChatModel)
    # OpenAI's transport caps each try at the budget and frees the slot on the wire.
    assert model.bounds_its_calls is True


@pytest.mark.parametrize("streamed", [False, True])
def test_stop_abandons_the_call_of_a_model_of_another_provider(
    settings, blocking_provider, streamed
):
    """Stop frees the ask at once whatever the provider: the model's call is
    left to finish alone, the ask ends cancelled (not at the budget)."""
    model = BoundedChatModel.wrap(BlockingChatModel(), bounds_its_calls=False)
    stopped = threading.Event()

    def press_stop_once_the_model_waits() -> None:
        if _entered.wait(10):
            stopped.set()

    threading.Thread(target=press_stop_once_the_model_waits).start()

    def ask() -> object:
        if streamed:
            return list(model.stream([HumanMessage("Hi")]))
        return model.invoke([HumanMessage("Hi")])

    started = time.monotonic()
    with (
        model_time_budget(BLOCK_S / 2),
        model_calls_stoppable(stopped.is_set),
        pytest.raises(AskCancelled),
    ):
        ask()

    assert _entered.is_set()
    assert time.monotonic() - started < BLOCK_S / 6  # not the budget's 30 s
