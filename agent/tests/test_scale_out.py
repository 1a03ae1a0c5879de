"""Several gunicorn instances share one PostgreSQL app database: a user connects
through one, asks through another, and keeps going when the first one stops."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from testsupport.fixtures import PASSWORD, connection_fields
from testsupport.llm_stub import StubLLMServer, keyword_responder
from testsupport.serving import (
    Client,
    Gunicorn,
    app_database_migrate,
    database_url_derived,
    serving_env,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stub() -> Iterator[StubLLMServer]:
    with StubLLMServer(responder=keyword_responder()) as server:
        yield server


@pytest.fixture(scope="module")
def env(shop_databases: dict[str, Any], stub: StubLLMServer) -> dict[str, str]:
    env = serving_env(
        database_url=database_url_derived("serving"),
        sqlite_dir=shop_databases["sqlite_dir"],
        llm_base_url=stub.base_url,
    )
    app_database_migrate(env)
    return env


def _reader_connection() -> dict[str, Any]:
    fields = connection_fields("postgresql")
    fields["db_password"] = fields.pop("password")
    return fields


def test_a_session_opened_on_one_instance_keeps_working_on_another_after_it_stops(
    env, tmp_path
):
    a = Gunicorn(env, workers=1, log_dir=tmp_path)
    b = Gunicorn(env, workers=1, log_dir=tmp_path)
    try:
        a.start()
        b.start()
        via_a = Client(a.url)
        via_a.register_and_login(f"scale-{uuid.uuid4().hex[:8]}@example.com", PASSWORD)
        session_id = via_a.connect(_reader_connection())
        via_b = via_a.with_base_url(b.url)

        # B has never seen this session: it builds the engine from the stored row
        # (the password decrypts with the shared key).
        first = via_b.post("/ask", {"question": "Which customers live in Germany?"})
        assert first.status_code == 200, first.text
        assert first.json()["session_id"] == session_id
        assert [r[1] for r in first.json()["result"]["rows"]] == [
            "Ada Lovelace",
            "Chen Wei",
            "Fatima Zahra",
        ]
        second = via_a.post("/ask", {"question": "How many customers are there?"})
        assert second.status_code == 200, second.text

        a.stop()

        status = via_b.get("/databases/session-status")
        assert status.status_code == 200
        assert status.json()["session_id"] == session_id
        third = via_b.post("/ask", {"question": "List the orders"})
        assert third.status_code == 200, third.text
        assert third.json()["result"]["row_count"] == 6
        thread = via_b.get(f"/threads/{session_id}")
        assert thread.status_code == 200
        turns = thread.json()["turns"]
        assert [(t["question"], t["status"]) for t in turns] == [
            ("Which customers live in Germany?", "ok"),
            ("How many customers are there?", "ok"),
            ("List the orders", "ok"),
        ]
        assert turns[1]["result"]["rows"] == [[6]]
    finally:
        a.stop()
        b.stop()
