"""One turn, three renderings: the API, the MCP tools and the pages show the same
question, answer, SQL, rows, columns, row count, truncation, chart, grounding
and status, because all three render the turn's one view (agent/turn_view.py)."""

from __future__ import annotations

import json
import uuid
from html.parser import HTMLParser
from typing import Any

import pytest

from agent.markdown import markdown_render
from agent.mcp_server.payloads import turn_payload
from agent.models import Thread, Turn, TurnStatus
from agent.serializers import AskOutputSerializer
from agent.templatetags.answers import cell_text
from testsupport.llm_stub import StubReply, scripted_responder

pytestmark = pytest.mark.django_db

GROUPED = (
    "SELECT country, COUNT(*) AS customers FROM customers "
    "GROUP BY country ORDER BY country"
)


class _TurnPage(HTMLParser):
    """Collect what one turn's <article> shows: its text parts by role."""

    def __init__(self, turn_id: int) -> None:
        super().__init__(convert_charrefs=True)
        self.turn_id = turn_id
        self.depth = 0  # >0 while inside the turn's article
        self.status = ""
        self.row_count: int | None = None
        self.question = ""
        self.sql: list[str] = []
        self.failed_sql: list[str] = []
        self.columns: list[str] = []
        self.rows: list[list[str]] = []
        self.chart_json = ""
        self.badges: list[str] = []
        self.classes: list[str] = []
        self._capture: str | None = None
        self._query_failed = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "article" and a.get("id") == f"turn-{self.turn_id}":
            self.depth = 1
            self.status = a["data-status"]
            return
        if not self.depth:
            return
        if tag in {"article", "div", "section"}:
            self.depth += 1
        self.classes.extend(a.get("class", "").split())
        if tag == "p" and "question" in a.get("class", ""):
            self._capture = "question"
        elif tag == "div" and a.get("class") == "query":
            self._query_failed = False
        elif tag == "span" and a.get("class") == "error" and not self._capture:
            self._query_failed = True
        elif tag == "code" and a.get("id", "").startswith("sql-"):
            self._capture = "sql"
            (self.failed_sql if self._query_failed else self.sql).append("")
        elif tag == "div" and "data-row-count" in a:
            self.row_count = int(a["data-row-count"])
        elif tag == "button" and a.get("class") == "sort":
            self._capture = "column"
            self.columns.append("")
        elif tag == "tr" and self.columns:
            self.rows.append([])
        elif tag == "td" and self.rows:
            self._capture = "cell"
            self.rows[-1].append("")
        elif tag == "script" and a.get("id") == f"chart-spec-{self.turn_id}":
            self._capture = "chart"
        elif tag == "span" and "badge" in a.get("class", ""):
            self._capture = "badge"
            self.badges.append("")

    def handle_endtag(self, tag: str) -> None:
        if not self.depth:
            return
        if (self._capture, tag) in {
            ("question", "p"),
            ("sql", "code"),
            ("column", "button"),
            ("cell", "td"),
            ("chart", "script"),
            ("badge", "span"),
        }:
            self._capture = None
        if tag in {"article", "div", "section"}:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.depth or self._capture is None:
            return
        if self._capture == "question":
            self.question += data
        elif self._capture == "sql":
            (self.failed_sql if self._query_failed else self.sql)[-1] += data
        elif self._capture == "column":
            self.columns[-1] += data
        elif self._capture == "cell":
            self.rows[-1][-1] += data
        elif self._capture == "chart":
            self.chart_json += data
        elif self._capture == "badge":
            self.badges[-1] += data


def _answer_html(html: str, turn_id: int) -> str:
    # The answer is rendered Markdown: compared as the HTML the page holds.
    article = html[html.index(f'id="turn-{turn_id}"') :]
    start = article.index('<div class="answer">') + len('<div class="answer">')
    return article[start : article.index("</div>", start)].strip()


def _page_view(html: str, turn_id: int) -> dict[str, Any]:
    page = _TurnPage(turn_id)
    page.feed(html)
    assert page.status, f"turn {turn_id} is not on the page"
    return {
        "question": page.question.replace("You asked:", "").strip(),
        "answer_html": _answer_html(html, turn_id),
        "status": page.status,
        "sql": page.sql,
        "columns": page.columns,
        "rows": page.rows,
        "row_count": page.row_count,
        "truncated": "truncated" in page.badges,
        "chart": json.loads(page.chart_json) if page.chart_json else None,
        "grounded": "ungrounded" not in page.classes,
    }


def _assert_one_turn_everywhere(
    *, api: dict[str, Any], detail: dict[str, Any], mcp: dict[str, Any], page: str
) -> None:
    """Compare the API's /ask body, its thread-detail turn, MCP's payload and the
    page, value by value."""
    api_sql = [q["sql"] for q in api["queries"] if not q["error"]]
    result = api["result"]
    shown = _page_view(page, api["turn_id"])

    assert detail["turn_id"] == mcp["turn_id"] == api["turn_id"]
    assert detail["question"] == mcp["question"] == shown["question"]
    assert api["question"] == shown["question"]
    assert api["answer"] == detail["answer"] == mcp["answer"]
    assert shown["answer_html"] == markdown_render(api["answer"]).strip()
    assert detail["status"] == mcp["status"] == shown["status"]
    assert api_sql == mcp["sql"] == shown["sql"]
    assert [q["sql"] for q in detail["queries"] if not q["error"]] == api_sql
    assert result == detail["result"]
    assert result["columns"] == mcp["columns"] == shown["columns"]
    assert result["rows"] == mcp["rows"]
    assert [
        ["NULL" if cell is None else cell_text(cell) for cell in row]
        for row in result["rows"]
    ] == shown["rows"]
    assert result["row_count"] == mcp["row_count"] == shown["row_count"]
    assert result["truncated"] == mcp["truncated"] == shown["truncated"]
    assert api["chart"] == detail["chart"] == mcp.get("chart") == shown["chart"]
    assert api["grounded"] == detail["grounded"] == mcp["grounded"]
    assert api["grounded"] == shown["grounded"]
    assert api["cut_off"] == detail["cut_off"] == mcp["cut_off"]


def test_an_asked_turn_shows_the_same_in_the_api_mcp_and_the_chat_page(
    alice, alice_client, alice_page, connected_session, llm_stub
):
    connected_session(alice, "sqlite")
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("run_query", {"sql": "DELETE FROM customers"})]),
            StubReply(tool_calls=[("run_query", {"sql": GROUPED})]),
            StubReply(content="Germany has **3** customers; the others one each."),
        ]
    )

    api = alice_client.post(
        "/ask", {"question": "Customers per country?"}, format="json"
    ).json()
    detail = alice_client.get(f"/threads/{api['thread_id']}").json()["turns"][-1]
    mcp = turn_payload(user=alice, turn=Turn.objects.get(pk=api["turn_id"]))
    page = alice_page.get("/").text

    _assert_one_turn_everywhere(api=api, detail=detail, mcp=mcp, page=page)
    # What the three agree on is the turn itself, not three empty values.
    assert api["question"] == "Customers per country?"
    assert [q["sql"] for q in api["queries"]] == ["DELETE FROM customers", GROUPED]
    assert api["result"]["rows"] == [
        ["France", 1],
        ["Germany", 3],
        ["Spain", 1],
        ["USA", 1],
    ]
    assert api["chart"] is not None
    assert detail["status"] == "ok"
    assert api["grounded"] is True


def test_a_stored_cut_short_turn_shows_the_same_in_the_api_mcp_and_history(
    alice, alice_client, alice_page, connected_session
):
    session = connected_session(alice, "sqlite")
    thread = Thread.objects.create(id=session.id, user=alice, title="Stored")
    turn = Turn.objects.create(
        thread=thread,
        question="Which <b>orders</b>?",
        answer="Probably *ten*.",
        status=TurnStatus.OK,
        grounded=False,
        cut_off=True,
        queries=[
            {
                "sql": "SELECT id FROM orders ORDER BY id",
                "row_count": 2,
                "truncated": True,
                "duration_ms": 1.5,
                "error": None,
            },
            {
                "sql": "DROP TABLE orders",
                "row_count": 0,
                "truncated": False,
                "duration_ms": 0.0,
                "error": "Refused: not a SELECT.",
            },
        ],
        result={
            "columns": ["id", "note"],
            "column_types": ["integer", "text"],
            "rows": [[1, None], [2, 'a, "b"']],
            "row_count": 2,
            "truncated": True,
        },
        duration_ms=3.0,
    )

    api = AskOutputSerializer(turn).data
    detail = alice_client.get(f"/threads/{thread.id}").json()["turns"][-1]
    mcp = turn_payload(user=alice, turn=turn)
    page = alice_page.get(f"/history/{thread.id}/").text

    _assert_one_turn_everywhere(api=api, detail=detail, mcp=mcp, page=page)
    assert api["result"]["truncated"] is True
    assert mcp["sql"] == ["SELECT id FROM orders ORDER BY id"]
    assert mcp["grounded"] is False
    assert mcp["cut_off"] is True
    assert uuid.UUID(mcp["thread_id"]) == thread.id
