"""1. What /ask adds over running the same trivial query with SQLAlchemy directly
(instant stub LLM, SQLite)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from sqlalchemy import Engine, create_engine, text

from bench.common import api_client, median, p95, timed, user_with_token
from testsupport.llm_stub import StubLLMServer, keyword_responder

SQL = "SELECT COUNT(*) AS n FROM customers"
REPEAT = 60
WARMUP = 12  # past THREAD_HISTORY_TURNS: the history replayed is at its usual size


def measure(stub: StubLLMServer, sqlite_dir: Path, *, profile: bool) -> dict[str, Any]:
    stub.responder = keyword_responder(rules=(), default_sql=SQL)
    ask, direct, engine = _ask_and_direct(sqlite_dir, "bench-overhead")
    timed(ask, WARMUP)
    timed(direct, 20)
    ask_ms = timed(ask, REPEAT)
    direct_ms = timed(direct, REPEAT)
    llm_calls = len(stub.requests) // (WARMUP + REPEAT)
    result = {
        "ask_median": median(ask_ms),
        "ask_p95": p95(ask_ms),
        "direct_median": median(direct_ms),
        "direct_p95": p95(direct_ms),
        "added_median": median(ask_ms) - median(direct_ms),
        "added_p95": p95(ask_ms) - p95(direct_ms),
        "llm_calls": llm_calls,
        "profile": {},
    }
    if profile:
        with _breakdown(stub) as spent:
            timed(ask, REPEAT)
        result["profile"] = {k: v / REPEAT for k, v in spent.items()}
    with _instant_model_in_process():
        timed(ask, WARMUP)
        local_ms = timed(ask, REPEAT)
    result["local_median"] = median(local_ms)
    result["local_p95"] = p95(local_ms)
    result["local_added_median"] = median(local_ms) - median(direct_ms)
    result["local_added_p95"] = p95(local_ms) - p95(direct_ms)
    engine.dispose()
    return result


def _ask_and_direct(
    sqlite_dir: Path, email_prefix: str
) -> tuple[Callable[[], None], Callable[[], None], Engine]:
    """Connect a fresh user to the shop; return /ask, the direct query, the engine."""
    from connections.services import connection_create
    from testsupport.fixtures import SQLITE_FILE, shop_build_sqlite

    shop_build_sqlite(sqlite_dir / SQLITE_FILE)
    user, token = user_with_token(email_prefix)
    connection = connection_create(
        owner=user, db_type="sqlite", database_name=SQLITE_FILE, host="", port=0
    )
    client = api_client(token)
    assert client.post(f"/databases/connect_db/{connection.id}").status_code == 200

    def ask() -> None:
        response = client.post("/ask", {"question": "How many?"}, format="json")
        assert response.status_code == 200, response.content

    engine = create_engine(f"sqlite:///{sqlite_dir / SQLITE_FILE}")

    def direct() -> None:
        with engine.connect() as conn:
            conn.execute(text(SQL)).fetchall()

    return ask, direct, engine


class InstantChatModel(BaseChatModel):
    """An LLM that answers at once, in process: a run_query call, then an answer.

    It stands where ChatOpenAI stands, so what /ask costs around it is the
    service's own work (HTTP, auth, app database, agent loop, SQL guard).
    """

    sql: str = SQL

    @property
    def _llm_type(self) -> str:
        return "instant"

    def bind_tools(self, tools: Any, **kwargs: Any) -> InstantChatModel:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        if messages and isinstance(messages[-1], ToolMessage):
            reply = AIMessage("Done.")
        else:
            reply = AIMessage(
                "",
                tool_calls=[
                    {"name": "run_query", "args": {"sql": self.sql}, "id": "c1"}
                ],
            )
        return ChatResult(generations=[ChatGeneration(message=reply)])


@contextmanager
def _instant_model_in_process() -> Iterator[None]:
    from agent.engines import engine_cache
    from agent.llm import runner
    from agent.llm.budget import BoundedChatModel

    original = runner.chat_model_cached
    # One model for the process, as chat_model_cached gives: the compiled agent
    # is kept per model, and a new model per ask would compile one per ask.
    model = BoundedChatModel.wrap(InstantChatModel(), bounds_its_calls=True)
    runner.chat_model_cached = lambda config: model
    engine_cache.close_all()
    try:
        yield
    finally:
        runner.chat_model_cached = original
        engine_cache.close_all()


@contextmanager
def _breakdown(stub: StubLLMServer) -> Iterator[dict[str, float]]:
    """Time the layers of /ask (wall ms, summed) by wrapping their entry points.

    Cheaper and less distorting than a profiler for a 40 ms request: each layer
    is timed by its entry point, and the layers are told apart by subtraction.
    The stub answers from a thread of this process, so its own handling of a
    request is timed too: it is inside the chat model's time.
    """
    from langchain_openai import ChatOpenAI

    from agent import api, llm, services, sql_guard

    spent: dict[str, float] = defaultdict(float)
    targets = [
        (api, "thread_ask", "thread_ask"),
        (llm, "agent_answer", "agent_answer"),
        (ChatOpenAI, "_generate", "chat_model"),
        (sql_guard, "query_run", "query_run"),
        (services.Turn.objects, "create", "turn_create"),
        (services.Turn, "finish", "turn_finish"),
        (stub._server.RequestHandlerClass, "do_POST", "stub"),
    ]
    originals = [(obj, name, getattr(obj, name)) for obj, name, _ in targets]

    def wrap(original: Callable[..., Any], key: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[key] += (time.perf_counter() - started) * 1000

        return wrapper

    for (obj, name, key), (_, _, original) in zip(targets, originals, strict=True):
        setattr(obj, name, wrap(original, key))
    try:
        started = time.perf_counter()
        yield spent
        spent["request"] = (time.perf_counter() - started) * 1000
    finally:
        for obj, name, original in originals:
            setattr(obj, name, original)


def breakdown_text(spent: dict[str, float]) -> list[tuple[str, float]]:
    """Return (layer, ms per ask) from the summed timings of `_breakdown`."""
    if not spent:
        return []
    spent = defaultdict(float, spent)
    return [
        (
            "HTTP handling, middleware, JWT auth, throttle",
            spent["request"] - spent["thread_ask"],
        ),
        (
            "app database: session, thread, history, turn rows",
            spent["thread_ask"] - spent["agent_answer"] - 0,
        ),
        (
            "  of which the two turn writes (commits)",
            spent["turn_create"] + spent["turn_finish"],
        ),
        (
            "LangChain/LangGraph agent loop",
            spent["agent_answer"] - spent["chat_model"] - spent["query_run"],
        ),
        (
            "ChatOpenAI + openai client, 2 calls (stub answers in <1 ms)",
            spent["chat_model"],
        ),
        (
            "  of which the stub's own handling (JSON in, answer, JSON out)",
            spent["stub"],
        ),
        ("query_run: statement check + read-only run", spent["query_run"]),
    ]


def measure_default_config(sqlite_dir: Path) -> dict[str, Any]:
    """Measure /ask's own overhead as `make run` configures the service.

    The app database is then a SQLite file too (WAL), so this runs in a child
    process with its own Django set-up.
    """
    import json
    import subprocess
    import sys

    from testsupport.serving import ROOT

    completed = subprocess.run(
        [sys.executable, "-m", "bench.overhead", str(sqlite_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _default_config_main(folder: Path) -> dict[str, Any]:
    import os

    os.environ.update(
        {
            "ENV_FILE": "/nonexistent",
            "SECRET_KEY": "bench-" + "x" * 50,
            "FIELD_ENCRYPTION_KEY": "Y2Y5N2E0NjQ0ZDQ3NDc3ZmE3ZTBiZWI1YjYxZTFlM2M=",
            "DATABASE_URL": f"sqlite:///{folder / 'bench_app.sqlite3'}",
            "SQLITE_DATABASES_DIR": str(folder),
            # Never called: the model answers in process.
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "0",
            "THROTTLE_ASK_RATE": "1000000/min",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "sqlagent_project.settings",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    (folder / "bench_app.sqlite3").unlink(missing_ok=True)
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    ask, direct, engine = _ask_and_direct(folder, "bench-default")
    with _instant_model_in_process():
        timed(ask, WARMUP)
        timed(direct, 20)
        ask_ms = timed(ask, REPEAT)
        direct_ms = timed(direct, REPEAT)
    engine.dispose()
    return {
        "ask_median": median(ask_ms),
        "ask_p95": p95(ask_ms),
        "direct_median": median(direct_ms),
        "direct_p95": p95(direct_ms),
        "added_median": median(ask_ms) - median(direct_ms),
        "added_p95": p95(ask_ms) - p95(direct_ms),
    }


if __name__ == "__main__":
    import json
    import sys
    import warnings

    warnings.simplefilter("ignore")
    print(json.dumps(_default_config_main(Path(sys.argv[1]))))
