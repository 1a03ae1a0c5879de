"""Logs: one line per request with user, session, status and duration; query
lines carry the same context; JSON lines when asked; never a secret."""

from __future__ import annotations

import copy
import io
import json
import logging
import logging.config
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from testsupport.fixtures import connection_fields
from testsupport.llm_stub import StubLLMServer, keyword_responder

pytestmark = pytest.mark.django_db

API_KEY = "sk-test-logging-Zq81xVv0pLmN"
USER_PASSWORD = "Unguessable-Pass-7731"
WRONG_PASSWORD = "Wrong-Guess-0042x"
# PostgreSQL on 127.0.0.1 trusts its admin role, so any password connects as it;
# this one is stored encrypted and sent to the driver at every connect.
DB_PASSWORD = "Target-Db-Secret-5519"


@pytest.fixture
def capture_logs() -> Iterator[Callable[[str], io.StringIO]]:
    """Reconfigure logging as settings.LOGGING does, writing to a buffer."""

    def capture(log_format: str) -> io.StringIO:
        config = copy.deepcopy(django_settings.LOGGING)
        config["handlers"]["console"]["formatter"] = log_format
        config["root"]["level"] = "INFO"
        logging.config.dictConfig(config)
        handler = next(h for h in logging.getLogger().handlers if h.name == "console")
        buffer = io.StringIO()
        handler.setStream(buffer)
        return buffer

    yield capture
    logging.config.dictConfig(django_settings.LOGGING)


@pytest.fixture
def stub(settings) -> Iterator[StubLLMServer]:
    with StubLLMServer(responder=keyword_responder()) as server:
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_API_KEY = API_KEY
        settings.LLM_MAX_RETRIES = 0
        settings.LLM_TIMEOUT_S = 5
        yield server


def _full_run(shop: dict) -> dict:
    """Drive the whole API as a client would; return the secrets it used and ids."""
    client = APIClient()
    email = "logger@example.com"
    registered = client.post(
        "/auth/register",
        {"email": email, "password": USER_PASSWORD, "name": "Log"},
        format="json",
    )
    assert registered.status_code == 201
    refused = client.post(
        "/auth/login", {"email": email, "password": WRONG_PASSWORD}, format="json"
    )
    assert refused.status_code == 401
    login = client.post(
        "/auth/login", {"email": email, "password": USER_PASSWORD}, format="json"
    )
    assert login.status_code == 200
    first = login.json()
    refreshed = client.post(
        "/auth/refresh", {"refresh": first["refresh"]}, format="json"
    )
    assert refreshed.status_code == 200
    second = refreshed.json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {second['access']}")

    fields = {**connection_fields("postgresql", reader=False), "password": DB_PASSWORD}
    added = client.post(
        "/databases/add_db_connection", {"label": "logs", **fields}, format="json"
    )
    assert added.status_code == 201, added.json()
    db_id = added.json()["db_connection"]["id"]
    connected = client.post(f"/databases/connect_db/{db_id}")
    assert connected.status_code == 200, connected.json()
    session_id = connected.json()["session_id"]
    assert client.get("/databases/session-status").status_code == 200
    asked = client.post(
        "/ask", {"question": "How many customers are there?"}, format="json"
    )
    assert asked.status_code == 200, asked.json()
    assert client.get("/threads").status_code == 200
    assert client.post("/databases/disconnect-session").status_code == 200
    logout = client.post("/auth/logout", {"refresh": second["refresh"]}, format="json")
    assert logout.status_code == 200
    return {
        "user_id": registered.json()["id"],
        "session_id": session_id,
        "secrets": {
            "user password": USER_PASSWORD,
            "wrong password": WRONG_PASSWORD,
            "database password": DB_PASSWORD,
            "OPENAI_API_KEY": API_KEY,
            "access token": first["access"],
            "refresh token": first["refresh"],
            "rotated access token": second["access"],
            "rotated refresh token": second["refresh"],
            # A token cut short is still a token: its signature must not show.
            "access token signature": first["access"].rsplit(".", 1)[1],
            "refresh token signature": second["refresh"].rsplit(".", 1)[1],
        },
    }


@pytest.mark.parametrize("log_format", ["plain", "json"])
@pytest.mark.usefixtures("privileged_ok")  # connects as postgres
def test_a_full_run_logs_no_password_token_or_api_key(
    capture_logs, stub, shop, log_format
):
    buffer = capture_logs(log_format)
    run = _full_run(shop)
    text = buffer.getvalue()
    assert "POST /ask 200" in text
    leaked = [name for name, secret in run["secrets"].items() if secret in text]
    assert leaked == []


@pytest.mark.usefixtures("privileged_ok")  # connects as postgres
def test_json_logs_are_one_object_a_line_with_request_user_session_and_duration(
    capture_logs, stub, shop
):
    buffer = capture_logs("json")
    run = _full_run(shop)
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert all(isinstance(record, dict) for record in records)
    requests = [r for r in records if r["logger"] == "sqlagent.request"]
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [
        ("POST", "/auth/register", 201),
        ("POST", "/auth/login", 401),
        ("POST", "/auth/login", 200),
        ("POST", "/auth/refresh", 200),
        ("POST", "/databases/add_db_connection", 201),
        ("POST", f"/databases/connect_db/{requests[5]['path'].rsplit('/', 1)[1]}", 200),
        ("GET", "/databases/session-status", 200),
        ("POST", "/ask", 200),
        ("GET", "/threads", 200),
        ("POST", "/databases/disconnect-session", 200),
        ("POST", "/auth/logout", 200),
    ]
    assert all(isinstance(r["duration_ms"], float) for r in requests)
    assert all(r["request_id"] for r in requests)
    assert len({r["request_id"] for r in requests}) == len(requests)
    authenticated = requests[4:10]
    assert {r["user_id"] for r in authenticated} == {run["user_id"]}
    ask = requests[7]
    assert ask["session_id"] == run["session_id"]
    # The query the agent ran is logged with the same request, user and session.
    queries = [
        r
        for r in records
        if r["message"].startswith("query ok") and "customer_count" in r["message"]
    ]
    assert len(queries) == 1
    assert "rows=1" in queries[0]["message"]
    assert "duration_ms=" in queries[0]["message"]
    assert {k: queries[0][k] for k in ("request_id", "user_id", "session_id")} == {
        "request_id": ask["request_id"],
        "user_id": run["user_id"],
        "session_id": run["session_id"],
    }


def test_plain_request_lines_name_the_user_and_session(
    capture_logs, alice, alice_client, connected_session
):
    session = connected_session(alice, "sqlite")
    buffer = capture_logs("plain")
    response = alice_client.get("/databases/session-status")
    line = next(
        line for line in buffer.getvalue().splitlines() if "sqlagent.request" in line
    )
    assert response.status_code == 200
    assert "GET /databases/session-status 200" in line
    assert f"user={alice.pk} session={session.pk}]" in line


def test_an_incoming_request_id_is_kept_and_a_hostile_one_replaced(
    capture_logs, anon_client
):
    buffer = capture_logs("json")
    kept = anon_client.get("/health", HTTP_X_REQUEST_ID="lb-1234.abc")
    replaced = anon_client.get("/health", HTTP_X_REQUEST_ID="x\nFAKE LOG LINE")
    ids = [
        json.loads(line)["request_id"]
        for line in buffer.getvalue().splitlines()
        if '"sqlagent.request"' in line
    ]
    assert kept["X-Request-ID"] == "lb-1234.abc"
    assert replaced["X-Request-ID"] != "x\nFAKE LOG LINE"
    assert ids == ["lb-1234.abc", replaced["X-Request-ID"]]


def test_secrets_a_careless_log_call_includes_are_masked(capture_logs, settings):
    settings.OPENAI_API_KEY = API_KEY
    buffer = capture_logs("json")
    token = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2lnbmF0dXJlLXBhcnQ"
    logging.getLogger("careless").warning(
        "dsn=postgresql://reader:%s@db:5432/shop password=%s header=Bearer %s "
        "key=%s body=%s",
        DB_PASSWORD,
        USER_PASSWORD,
        token,
        API_KEY,
        json.dumps({"password": WRONG_PASSWORD, "refresh": "opaque-refresh-value"}),
    )
    line = buffer.getvalue()
    record = json.loads(line)
    assert record["message"].startswith("dsn=postgresql://reader:[REDACTED]@db:5432")
    for secret in (DB_PASSWORD, USER_PASSWORD, WRONG_PASSWORD, API_KEY, token):
        assert secret not in line
    assert "opaque-refresh-value" not in line


def test_no_llm_configured_is_one_warning_not_an_error_log(
    alice_client: Any, connected_session: Any, alice: Any, settings: Any, caplog: Any
) -> None:
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    connected_session(alice, "sqlite")

    with caplog.at_level(logging.INFO):
        response = alice_client.post("/ask", {"question": "Hi?"}, format="json")

    assert response.status_code == 503
    assert response.json()["code"] == "llm_not_configured"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any(
        r.levelno == logging.WARNING and "503 llm_not_configured" in r.getMessage()
        for r in caplog.records
    )
