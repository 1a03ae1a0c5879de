"""PUT /threads/{thread_id}/turns/{turn_id}/chart: a person picks the chart of
a turn; it is built from the stored rows, remembered, and never asks the model."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agent.charts import chart_for
from agent.models import Thread, Turn, TurnStatus

pytestmark = pytest.mark.django_db

RESULT = {
    "columns": ["name", "category", "revenue"],
    "column_types": ["text", "text", "decimal"],
    "rows": [["Laptop", "Computers", "1200"], ["Phone", "Phones", "800"]],
    "row_count": 2,
    "truncated": False,
}


@pytest.fixture
def turn(alice: Any) -> Turn:
    thread = Thread.objects.create(id=uuid.uuid4(), user=alice)
    return Turn.objects.create(
        thread=thread, question="Top products", status=TurnStatus.OK, result=RESULT
    )


def _url(turn: Turn) -> str:
    return f"/threads/{turn.thread_id}/turns/{turn.id}/chart"


def test_top_n_with_extra_text_columns_gets_bars_by_default() -> None:
    spec = chart_for(RESULT)

    assert spec is not None
    assert spec["mark"]["type"] == "bar"
    assert spec["usermeta"]["choice"] == {
        "type": "bar",
        "x": "name",
        "y": "revenue",
        "series": None,
    }


@pytest.mark.parametrize(
    ("kind", "mark"),
    [("line", "line"), ("area", "area"), ("barh", "bar"), ("pie", "arc")],
)
def test_a_picked_chart_is_remembered_on_the_turn(
    alice_client: Any, turn: Turn, kind: str, mark: str
) -> None:
    response = alice_client.put(
        _url(turn), {"type": kind, "x": "name", "y": "revenue"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["chart"]["mark"]["type"] == mark
    turn.refresh_from_db()
    assert turn.chart["usermeta"]["choice"]["type"] == kind


def test_picking_table_removes_the_chart(alice_client: Any, turn: Turn) -> None:
    turn.chart = chart_for(RESULT)
    turn.save()

    response = alice_client.put(_url(turn), {"type": "table"}, format="json")

    assert response.json() == {"chart": None}
    turn.refresh_from_db()
    assert turn.chart is None


def test_a_text_column_as_the_measure_is_a_400(alice_client: Any, turn: Turn) -> None:
    response = alice_client.put(
        _url(turn), {"type": "bar", "x": "name", "y": "category"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "chart_invalid"


def test_an_unknown_chart_type_is_a_400(alice_client: Any, turn: Turn) -> None:
    response = alice_client.put(_url(turn), {"type": "radar"}, format="json")

    assert response.status_code == 400
    assert "type" in response.json()


def test_bob_gets_404_and_anonymous_401(
    bob_client: Any, anon_client: Any, turn: Turn
) -> None:
    body = {"type": "line", "x": "name", "y": "revenue"}
    assert bob_client.put(_url(turn), body, format="json").status_code == 404
    assert anon_client.put(_url(turn), body, format="json").status_code == 401
