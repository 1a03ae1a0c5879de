"""Bounds end to end: a huge value or a huge result asked for through the agent is
cut while it is fetched, and the stored turn holds only the capped result."""

from __future__ import annotations

import json

import pytest

from agent.models import Turn, TurnStatus
from agent.services import thread_ask
from testsupport.fake_llm import scripted, tool_call

pytestmark = pytest.mark.django_db

HUGE = {
    # One 200 MB value; PostgreSQL cuts it on the server.
    "postgresql": "SELECT repeat('x', 200000000) AS big",
    # 300 rows of 1 MB each: more than the whole-result cap.
    "mysql": "SELECT seq, REPEAT('x', 1000000) AS big FROM seq_1_to_300",
    "sqlite": "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g "
    "WHERE n < 300) SELECT n, printf('%.*c', 900000, 'x') AS big FROM g",
}


@pytest.mark.parametrize("db_type", ["postgresql", "mysql", "sqlite"])
def test_a_huge_result_is_stored_capped_and_marked(
    alice, connected_session, settings, db_type
):
    settings.QUERY_MAX_CELL_BYTES = 65536
    settings.QUERY_MAX_RESULT_BYTES = 2 * 1024 * 1024
    connected_session(alice, db_type)
    model = scripted(tool_call(HUGE[db_type]), "It is big.")

    turn = thread_ask(user=alice, question="big", chat_model=model)

    assert turn.status == TurnStatus.OK
    stored = Turn.objects.get(pk=turn.pk).result
    size = len(json.dumps(stored))
    assert size < settings.QUERY_MAX_RESULT_BYTES + 200_000
    cell = stored["rows"][0][-1]
    assert len(cell) <= settings.QUERY_MAX_CELL_BYTES + 100
    assert "…[cut:" in cell
    assert stored["cut_cells"] >= 1
    if db_type != "postgresql":
        assert stored["truncated"] is True
        assert stored["truncated_reason"] == "bytes"
