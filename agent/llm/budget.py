"""The ask's model time and CPU slot, kept around any LangChain chat model.

An ask has one budget for all its model calls (LLM_ASK_BUDGET_S), and must not
hold its CPU slot (`capacity.cpu_released`) while a model thinks. Both are kept
here, by a chat model that wraps the provider's, so a new provider gets them
without knowing of them.
"""

from __future__ import annotations

import contextvars
import inspect
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableBinding
from pydantic import ConfigDict, PrivateAttr

from agent.exceptions import AskCancelled
from sqlagent_project import capacity

T = TypeVar("T")

# When the running ask's model time ends (time.monotonic()), or None outside an ask.
_ask_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "ask_deadline", default=None
)
# "Has the running ask been stopped?" (its Stop, or its client gone), or None.
_ask_should_stop: contextvars.ContextVar[Callable[[], bool] | None] = (
    contextvars.ContextVar("ask_should_stop", default=None)
)
# How often a model call under way looks whether its ask was stopped.
STOP_POLL_S = 0.1


class AskBudgetSpent(Exception):
    """The ask's model time (LLM_ASK_BUDGET_S) is spent: no further call is made."""


@contextmanager
def model_time_budget(seconds: float) -> Iterator[None]:
    """Bound every model call made inside, retries included, to end within
    `seconds` from now: one budget for a whole ask, however many calls it takes."""
    token = _ask_deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _ask_deadline.reset(token)


@contextmanager
def model_calls_stoppable(should_stop: Callable[[], bool]) -> Iterator[None]:
    """Let a Stop of the ask abandon a model call already under way (the
    provider's transport asks `model_stop_requested` while it waits)."""
    token = _ask_should_stop.set(should_stop)
    try:
        yield
    finally:
        _ask_should_stop.reset(token)


def model_stop_requested() -> bool:
    """Say whether the running ask was stopped; False outside an ask."""
    should_stop = _ask_should_stop.get()
    return should_stop is not None and should_stop()


def wait_stoppable(
    call: Callable[[], T], *, abandoned: Callable[[T], None] | None = None
) -> T | None:
    """Run `call` in a thread of its own and return what it returns, or None as
    soon as the ask is stopped: the call is then left to finish alone, and what
    it returns is handed to `abandoned` (to close a reply nobody reads).
    Outside a stoppable ask, `call` simply runs here."""
    if _ask_should_stop.get() is None:
        return call()
    done = threading.Event()
    outcome: dict[str, Any] = {}
    lock = threading.Lock()
    context = contextvars.copy_context()

    def run() -> None:
        try:
            value = context.run(call)
        except BaseException as exc:  # handed to the waiting thread
            with lock:
                outcome["error"] = exc
        else:
            with lock:
                gone = bool(outcome.get("gone"))
                if not gone:
                    outcome["value"] = value
            if gone and abandoned is not None:
                abandoned(value)
        finally:
            done.set()

    threading.Thread(target=run, name="model-request", daemon=True).start()
    while not done.wait(STOP_POLL_S):
        if model_stop_requested():
            with lock:
                if "value" not in outcome and "error" not in outcome:
                    outcome["gone"] = True
                    return None
            break  # it ended just now: use what it gave
    if "error" in outcome:
        raise outcome["error"]
    return cast("T", outcome["value"])


def model_time_left() -> float | None:
    """Seconds left of the running ask's model time; None outside an ask."""
    deadline = _ask_deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def _time_left_or_refuse() -> float | None:
    left = model_time_left()
    if left is not None and left <= 0:
        raise AskBudgetSpent()
    return left


def _spent() -> bool:
    left = model_time_left()
    return left is not None and left <= 0


class BoundedChatModel(BaseChatModel):
    """A provider's chat model, every call kept to the ask's budget and CPU slot.

    No call starts once the budget is spent, a streamed reply is stopped at the
    first chunk past it, and an error raised once it is spent is the budget's.
    A call of a model that does not bound itself (`Provider.bounds_its_calls`)
    runs in a thread of its own while the ask waits for it, its CPU slot handed
    over, for at most what is left: a model that hangs cannot hold the ask.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: BaseChatModel
    bounds_its_calls: bool = False
    _bindings: dict[Any, tuple[list[Any], Any]] = PrivateAttr(default_factory=dict)

    @classmethod
    def wrap(cls, model: BaseChatModel, *, bounds_its_calls: bool) -> BaseChatModel:
        """Return `model` bounded (a model already bounded is returned as is)."""
        if isinstance(model, BoundedChatModel):
            return model
        return cls(
            inner=model,
            bounds_its_calls=bounds_its_calls,
            # What decides how LangChain calls the model is the inner model's.
            disable_streaming=model.disable_streaming,
            output_version=model.output_version,
            cache=model.cache,
            callbacks=model.callbacks,
            tags=model.tags,
            metadata=model.metadata,
            profile=model.profile,
        )

    @property
    def _llm_type(self) -> str:
        return self.inner._llm_type

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return self.inner._identifying_params

    @property
    def model_name(self) -> str:
        inner = self.inner
        return getattr(inner, "model_name", "") or type(inner).__name__

    def _get_invocation_params(
        self, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return self.inner._get_invocation_params(stop=stop, **kwargs)

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return self.inner._get_ls_params(stop=stop, **kwargs)

    def _should_stream(self, **kwargs: Any) -> bool:
        return self.inner._should_stream(**kwargs)

    def _should_use_protocol_streaming(self, **kwargs: Any) -> bool:
        return self.inner._should_use_protocol_streaming(**kwargs)

    def bind_tools(
        self, tools: Sequence[dict[str, Any] | type | Callable | Any], **kwargs: Any
    ) -> Any:
        """The inner model's tool binding, its calls still going through here.

        The agent binds the same tools before every call: the binding is kept
        (with the tools, so their ids are never reused) instead of made anew.
        """
        try:
            key: Any = (tuple(map(id, tools)), tuple(sorted(kwargs.items())))
            hash(key)
        except TypeError:
            key = None
        cached = self._bindings.get(key) if key is not None else None
        if cached is not None:
            return cached[1]
        bound = self.inner.bind_tools(tools, **kwargs)
        if bound is self.inner:
            binding: Any = self
        elif isinstance(bound, RunnableBinding) and bound.bound is self.inner:
            binding = RunnableBinding(
                bound=self, kwargs=bound.kwargs, config=bound.config
            )
        else:
            # Anything else would call the model around the budget: refuse it.
            raise TypeError(
                f"{type(self.inner).__name__}.bind_tools returned "
                f"{type(bound).__name__}, not a binding of the model itself"
            )
        if key is not None:
            if len(self._bindings) >= 16:
                self._bindings.clear()
            self._bindings[key] = (list(tools), binding)
        return binding

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        left = _time_left_or_refuse()
        if _takes_run_manager(self.inner):
            kwargs["run_manager"] = run_manager
        inner = self.inner

        def call() -> ChatResult:
            return inner._generate(messages, stop=stop, **kwargs)

        try:
            if self.bounds_its_calls:
                return call()
            if left is None:
                with capacity.cpu_released():
                    capacity.wait_check("model call")
                    return call()
            return _call_watched(call, left)
        except AskBudgetSpent:
            raise
        except Exception as exc:
            if _spent():
                raise AskBudgetSpent() from exc
            if model_stop_requested():
                raise AskCancelled() from exc  # its request was abandoned
            raise

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        _time_left_or_refuse()
        chunks = self.inner._stream(
            messages, stop=stop, run_manager=run_manager, **kwargs
        )
        if not self.bounds_its_calls:
            chunks = _stream_watched(chunks)
        try:
            for chunk in chunks:
                # A model streaming slowly never trips a read timeout.
                _time_left_or_refuse()
                yield chunk
        except AskBudgetSpent:
            raise
        except Exception as exc:
            if _spent():
                raise AskBudgetSpent() from exc
            if model_stop_requested():
                raise AskCancelled() from exc  # its request was abandoned
            raise
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


_run_manager_takers: dict[type, bool] = {}


def _takes_run_manager(model: BaseChatModel) -> bool:
    kind = type(model)
    takes = _run_manager_takers.get(kind)
    if takes is None:
        parameters = inspect.signature(model._generate).parameters
        takes = "run_manager" in parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
        )
        _run_manager_takers[kind] = takes
    return takes


def _call_watched(call: Callable[[], T], left: float) -> T:
    """Run `call` in a thread of its own and wait at most `left` seconds for it,
    the CPU slot handed over meanwhile; a call past that is left to finish alone."""
    done = threading.Event()
    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def run() -> None:
        try:
            outcome["value"] = context.run(call)
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="model-call", daemon=True).start()
    deadline = time.monotonic() + left
    with capacity.cpu_released():
        capacity.wait_check("model call")
        # A Stop of the ask abandons the call, whichever provider made it.
        while not done.wait(max(min(STOP_POLL_S, deadline - time.monotonic()), 0)):
            if model_stop_requested():
                raise AskCancelled()
            if time.monotonic() >= deadline:
                raise AskBudgetSpent()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


_END = object()


def _next_arrived(arrived: queue.SimpleQueue[tuple[object, Any]]) -> tuple[object, Any]:
    """Wait for the model's next chunk within the budget; a Stop of the ask
    abandons the stream at once."""
    while True:
        left = model_time_left()
        wait = STOP_POLL_S if left is None else max(min(STOP_POLL_S, left), 0)
        try:
            return arrived.get(timeout=wait)
        except queue.Empty:
            if model_stop_requested():
                raise AskCancelled() from None
            if left is not None and left <= wait:
                raise AskBudgetSpent() from None


def _stream_watched(chunks: Iterator[T]) -> Iterator[T]:
    """Read `chunks` in a thread of its own, waiting for each at most what is
    left of the budget, the CPU slot handed over meanwhile. Once the reader is
    gone, the thread stops at the next chunk and closes the model's stream."""
    arrived: queue.SimpleQueue[tuple[object, Any]] = queue.SimpleQueue()
    gone = threading.Event()
    context = contextvars.copy_context()

    def read() -> None:
        try:
            for chunk in chunks:
                arrived.put((chunk, None))
                if gone.is_set():
                    break
            arrived.put((_END, None))
        except BaseException as exc:  # handed to the reader
            arrived.put((_END, exc))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    threading.Thread(
        target=context.run, args=(read,), name="model-stream", daemon=True
    ).start()
    try:
        while True:
            with capacity.cpu_released():
                capacity.wait_check("model stream")
                chunk, error = _next_arrived(arrived)
            if error is not None:
                raise error
            if chunk is _END:
                return
            yield cast("T", chunk)
    finally:
        gone.set()
