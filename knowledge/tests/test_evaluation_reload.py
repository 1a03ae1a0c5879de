"""The issue's own reproduction, without a broker: the README's gunicorn runs an
evaluation in the web process, and a graceful reload (SIGHUP, as a deploy does)
comes three questions in. The retiring worker lets the run go and a new worker
resumes it: it ends done, every question asked and counted once, none scored
wrong for not being asked."""

from __future__ import annotations

import signal
import time
import uuid
from typing import Any

import pytest

from testsupport.fixtures import PASSWORD, connection_fields
from testsupport.llm_stub import StubLLMServer, StubReply
from testsupport.serving import (
    Client,
    Gunicorn,
    app_database_migrate,
    database_url_derived,
    pg_database_ensure,
    serving_env,
)

pytestmark = pytest.mark.slow


def _right(body: dict[str, Any]) -> StubReply:
    last = body["messages"][-1]
    if last.get("role") == "tool":
        return StubReply(content="Done: " + str(last.get("content"))[:80])
    return StubReply(tool_calls=[("run_query", {"sql": "SELECT COUNT(*) FROM orders"})])


def test_a_graceful_reload_mid_run_never_scores_a_question_wrong(
    shop_databases: dict[str, Any], tmp_path
):
    with StubLLMServer(responder=_right, delay_s=0.3) as stub:
        url = database_url_derived("eval_reload")
        pg_database_ensure(url, fresh=True)
        env = serving_env(
            database_url=url,
            sqlite_dir=shop_databases["sqlite_dir"],
            llm_base_url=stub.base_url,
            ENV_FILE="/nonexistent",
            LLM_MAX_RETRIES="0",
            EVALUATION_RETRY_DELAY_S="0.2",
        )
        app_database_migrate(env)
        with Gunicorn(env, workers=1, threads=8, log_dir=tmp_path) as server:
            user = Client(server.url)
            user.register_and_login(f"ev-{uuid.uuid4().hex[:8]}@example.com", PASSWORD)
            user.connect(connection_fields("sqlite"))
            db_id = user.get("/databases").json()[0]["id"]
            for n in range(12):
                added = user.post(
                    f"/databases/{db_id}/knowledge/examples",
                    {
                        "question": f"Orders, take {n}?",
                        "sql": "SELECT COUNT(*) FROM orders",
                    },
                )
                assert added.status_code == 201, added.text
            run_id = user.post(f"/databases/{db_id}/evaluations", {}).json()["run_id"]
            path = f"/databases/{db_id}/evaluations/{run_id}"

            deadline = time.monotonic() + 60
            while user.get(path).json()["done"] < 3:
                assert time.monotonic() < deadline, server.log_tail()
                time.sleep(0.1)
            assert server.process is not None
            server.process.send_signal(signal.SIGHUP)

            deadline = time.monotonic() + 90
            while (body := user.get(path).json())["status"] == "running":
                assert time.monotonic() < deadline, server.log_tail()
                time.sleep(0.3)
            log = server.log_path.read_text(errors="replace")

    # Never the "done, 3/12", nor an incomplete run: resumed to the end.
    assert body["status"] == "done", body
    assert (body["answered"], body["unanswered"]) == (12, 0), body
    assert body["correct"] == 12, body
    assert body["accuracy"] == 1.0, body
    # Let go by the retiring worker, taken up by a new one.
    assert f"evaluation run {run_id} released" in log
    assert f"evaluation run {run_id} resumed by" in log
