"""One gate for every connection: each path that opens the user's database refuses
a privileged role (PostgreSQL superuser, MariaDB root) unless the operator allows
it, before any SQL of the user, the model or a golden set runs.

Each path below is one way the service opens a target connection. The red team's
payloads (a gold SQL reading `pg_authid` password hashes, `LOAD_FILE` of a server
file) go through every one of them; none may return a row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from accounts.services import token_create
from agent.engines import engine_cache
from agent.models import Turn
from connections.privileges import verdicts
from knowledge import evaluation
from knowledge.models import EvaluationResult, Example, GoldenQuestion, GoldenSet
from testsupport.llm_stub import StubLLMServer, keyword_responder
from testsupport.mcp import mcp_tool_call

pytestmark = pytest.mark.django_db

SERVER_ENGINES = ("postgresql", "mysql")
# The red team's payloads, as gold SQL, example SQL, the model's SQL and the
# user's SQL.
PAYLOAD = {
    "postgresql": "SELECT rolname, rolpassword FROM pg_authid",
    "mysql": "SELECT LOAD_FILE('/etc/hostname')",
}
BENIGN = "SELECT COUNT(*) AS n FROM customers"
REFUSED = "This service refuses database roles with more than read rights"
FINDING = {
    "postgresql": "The role is a PostgreSQL superuser.",
    "mysql": "The account has all privileges (administrator).",
}


def _leak_markers(db_type: str) -> list[str]:
    """Text that shows only if the payload's rows came back."""
    if db_type == "postgresql":
        # Built-in roles every pg_authid lists.
        return ["pg_monitor", "pg_read_all_data", "pg_signal_backend"]
    # LOAD_FILE reads it on the database server: this machine in these tests.
    path = Path("/etc/hostname")
    hostname = path.read_text().strip() if path.is_file() else ""
    return [hostname] if len(hostname) >= 6 and hostname != "localhost" else []


@dataclass
class Case:
    db_type: str
    user: Any
    client: Any
    page: Any
    connection: Any
    settings: Any
    llm: StubLLMServer
    sql: str
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Seen:
    """What a path answered: an HTTP status and code, or a background outcome."""

    refused: bool
    ok: bool
    text: str


REFUSAL_CODE = "privileged_role_refused"


def _api(response: Any) -> Seen:
    text = response.content.decode()
    body = response.json() if text.startswith("{") else {}
    return Seen(
        refused=response.status_code == 403 and body.get("code") == REFUSAL_CODE,
        ok=response.status_code in (200, 201, 202),
        text=text,
    )


def _page(response: Any) -> Seen:
    shown = [str(m) for m in response.context["messages"]] if response.context else []
    text = response.content.decode()
    return Seen(
        refused=any(REFUSED in message for message in shown),
        ok=response.status_code == 200 and not any(REFUSED in m for m in shown),
        text=text + "\n".join(shown),
    )


def _mcp(case: Case, tool: str, arguments: dict[str, Any]) -> Seen:
    token = case.notes.get("token")
    if token is None:
        token = case.notes["token"] = token_create(
            owner=case.user, name="gate", scope="sql"
        ).value
    result = mcp_tool_call(token, tool, arguments)
    text = result["content"][0]["text"]
    return Seen(
        refused=result["isError"] and text.startswith(f"{REFUSAL_CODE}: {REFUSED}"),
        ok=not result["isError"],
        text=json.dumps(result),
    )


def _bound(case: Case) -> None:
    """Bind the user's session to the connection as it can be in real life: it
    was connected while the operator allowed privileged roles, and the setting
    is off since (or the role gained its rights after the connect)."""
    allowed = case.settings.ALLOW_PRIVILEGED_CONNECTIONS
    case.settings.ALLOW_PRIVILEGED_CONNECTIONS = True
    response = case.client.post(f"/databases/connect_db/{case.connection.id}")
    assert response.status_code == 200, response.content
    case.settings.ALLOW_PRIVILEGED_CONNECTIONS = allowed


# --- the paths ---------------------------------------------------------------------


def connect_api(case: Case) -> Seen:
    return _api(case.client.post(f"/databases/connect_db/{case.connection.id}"))


def connect_page(case: Case) -> Seen:
    response = case.page.post(
        f"/connections/{case.connection.id}/connect/", follow=True
    )
    return _page(response)


def _example(case: Case) -> Example:
    # Stored as an import or an earlier version of the service left it: the
    # statement check at save time is not what this test is about.
    return Example.objects.create(
        connection=case.connection, question="Payload", sql=case.sql
    )


def example_check_api(case: Case) -> Seen:
    example = _example(case)
    base = f"/databases/{case.connection.id}/knowledge/examples"
    seen = _api(case.client.post(f"{base}/{example.id}/check"))
    example.refresh_from_db()
    if seen.refused:
        assert example.last_check_ok is None  # nothing ran, nothing recorded
    return seen


def example_check_page(case: Case) -> Seen:
    example = _example(case)
    base = f"/knowledge/{case.connection.id}/examples"
    return _page(case.page.post(f"{base}/{example.id}/check/", follow=True))


def prefill_api(case: Case) -> Seen:
    url = f"/databases/{case.connection.id}/knowledge/notes/prefill"
    return _api(case.client.post(url))


def prefill_page(case: Case) -> Seen:
    url = f"/knowledge/{case.connection.id}/notes/prefill/"
    return _page(case.page.post(url, follow=True))


def evaluation_run(case: Case) -> Seen:
    """The background run's own body, run here: gold SQL and a hostile model's SQL."""
    golden = GoldenSet.objects.create(connection=case.connection, name="payload")
    GoldenQuestion.objects.create(golden_set=golden, question="Payload?", sql=case.sql)
    run = evaluation.run_start(connection=case.connection, set_name="payload")
    run = evaluation.run_execute(run=run)
    results = list(EvaluationResult.objects.filter(run=run))
    rows = [r.gold_rows for r in results] + [r.returned_rows for r in results]
    text = json.dumps({"error": run.error, "rows": rows}, default=str)
    refused = run.status == "failed" and REFUSED in run.error
    if refused:
        assert not any(rows), rows
    return Seen(refused=refused, ok=run.status == "done" and bool(results), text=text)


def schema_api(case: Case) -> Seen:
    # Not connected: the schema browser's own one-off engine.
    return _api(case.client.get(f"/databases/{case.connection.id}/schema"))


def schema_table_api(case: Case) -> Seen:
    return _api(case.client.get(f"/databases/{case.connection.id}/schema/customers"))


def schema_api_connected(case: Case) -> Seen:
    # Connected: the session's cached engine.
    _bound(case)
    return _api(case.client.get(f"/databases/{case.connection.id}/schema"))


def ask_api(case: Case) -> Seen:
    _bound(case)
    seen = _api(case.client.post("/ask", {"question": "Payload?"}, format="json"))
    if seen.refused:
        turn = Turn.objects.get(thread__user=case.user)
        assert turn.status == "error"
        assert not turn.result
    return seen


def ask_page(case: Case) -> Seen:
    _bound(case)
    return _page(case.page.post("/", {"question": "Payload?"}, follow=True))


def ask_sql_api(case: Case) -> Seen:
    _bound(case)
    return _api(case.client.post("/ask/sql", {"sql": case.sql}, format="json"))


def run_sql_page(case: Case) -> Seen:
    _bound(case)
    return _page(case.page.post("/chat/run-sql/", {"sql": case.sql}, follow=True))


def mcp_connect(case: Case) -> Seen:
    return _mcp(case, "connect", {"connection_id": case.connection.id})


def mcp_run_sql(case: Case) -> Seen:
    _bound(case)
    return _mcp(case, "run_sql", {"sql": case.sql})


def mcp_describe_schema(case: Case) -> Seen:
    _bound(case)
    return _mcp(case, "describe_schema", {})


def mcp_ask(case: Case) -> Seen:
    _bound(case)
    return _mcp(case, "ask", {"question": "Payload?"})


PATHS: list[Callable[[Case], Seen]] = [
    connect_api,
    connect_page,
    example_check_api,
    example_check_page,
    prefill_api,
    prefill_page,
    evaluation_run,
    schema_api,
    schema_table_api,
    schema_api_connected,
    ask_api,
    ask_page,
    ask_sql_api,
    run_sql_page,
    mcp_connect,
    mcp_run_sql,
    mcp_describe_schema,
    mcp_ask,
]


@pytest.fixture(autouse=True)
def _fresh_verdicts() -> Iterator[None]:
    verdicts.clear()
    yield
    verdicts.clear()


@pytest.fixture
def case_for(
    alice, alice_client, alice_page, make_connection, settings
) -> Iterator[Callable[[str, str], Case]]:
    servers: list[StubLLMServer] = []

    def build(db_type: str, sql: str) -> Case:
        # The model answers every question with `sql` (a hostile model, for the
        # payloads).
        server = StubLLMServer(
            responder=keyword_responder(rules=(), default_sql=sql)
        ).__enter__()
        servers.append(server)
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_API_KEY = "sk-test-key-0123456789"
        settings.LLM_MAX_RETRIES = 0
        settings.LLM_TIMEOUT_S = 5
        return Case(
            db_type=db_type,
            user=alice,
            client=alice_client,
            page=alice_page,
            connection=make_connection(alice, db_type, reader=False),
            settings=settings,
            llm=server,
            sql=sql,
        )

    yield build
    for server in servers:
        server.__exit__(None, None, None)


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.__name__)
def test_every_path_refuses_a_privileged_role_and_returns_no_row(
    case_for, settings, path, db_type
):
    settings.ALLOW_PRIVILEGED_CONNECTIONS = False
    case = case_for(db_type, PAYLOAD[db_type])

    seen = path(case)

    assert seen.refused, seen.text[:2000]
    assert FINDING[db_type] in seen.text
    for marker in _leak_markers(db_type):
        assert marker not in seen.text
    engine_cache.close_all()


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.__name__)
def test_every_path_works_on_a_privileged_role_the_operator_allows(
    case_for, privileged_ok, path, db_type
):
    case = case_for(db_type, BENIGN)

    seen = path(case)

    assert seen.ok, seen.text[:2000]
    assert not seen.refused


@pytest.mark.slow  # the background run needs committed rows: a flushed database
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_an_evaluation_started_through_the_api_fails_with_the_reason_and_no_row(
    case_for, settings, db_type
):
    import time

    settings.ALLOW_PRIVILEGED_CONNECTIONS = False
    case = case_for(db_type, PAYLOAD[db_type])
    golden = GoldenSet.objects.create(connection=case.connection, name="payload")
    GoldenQuestion.objects.create(golden_set=golden, question="Payload?", sql=case.sql)
    base = f"/databases/{case.connection.id}/evaluations"

    started = case.client.post(base, {"set": "payload"}, format="json")
    assert started.status_code == 202
    deadline = time.monotonic() + 30
    while True:
        body = case.client.get(f"{base}/{started.json()['run_id']}").json()
        if body["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    assert body["status"] == "failed"
    assert REFUSED in body["error"]
    assert FINDING[db_type] in body["error"]
    assert body["results"] == []
    for marker in _leak_markers(db_type):
        assert marker not in json.dumps(body)
