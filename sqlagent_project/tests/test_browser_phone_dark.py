"""Every page at phone width (390 px) in dark mode: nothing spills sideways and
text stays legible against what is behind it (WCAG contrast of 4.5:1)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import Browser

from agent.charts import chart_for
from agent.models import Thread, Turn, TurnStatus
from boards.models import Board, Tile
from knowledge.models import EvaluationResult, EvaluationRun, Outcome, RunStatus
from testsupport.browser import CHROMIUM_ARGS, log_in  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RESULT = {
    "columns": ["name", "category", "revenue"],
    "column_types": ["text", "text", "decimal"],
    "rows": [["Laptop", "Computers", "1200"], ["Phone", "Phones", "800"]],
    "row_count": 2,
    "truncated": False,
}
# Each element's text colour against the first opaque background behind it.
CONTRAST = """
(selector) => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const worst = [];
  let checked = 0;
  document.querySelectorAll(selector).forEach((el) => {
    if (!el.offsetParent || !el.textContent.trim()) return;
    checked += 1;
    let node = el, bg = null;
    while (node) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) { bg = c; break; }
      node = node.parentElement;
    }
    bg = bg || [255, 255, 255];
    const fg = rgb(getComputedStyle(el).color);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    if (ratio < 4.5) {
      worst.push(el.tagName + "." + el.className + " " + ratio.toFixed(2));
    }
  });
  return { checked, worst };
}
"""
TEXT = "h1, h2, h3, p, td, th, label, a, button, summary, li, small, span, code"


def test_every_page_fits_a_phone_and_reads_in_dark_mode(
    live_server: Any, browser: Browser, alice: Any, connected_session: Any
) -> None:
    session = connected_session(alice, "sqlite", label="L" * 100)
    connection = session.db_connection
    thread = Thread.objects.create(
        id=session.id, user=alice, db_connection=connection, title="T" * 150
    )
    turn = Turn.objects.create(
        thread=thread,
        question="Top products by revenue " + "x" * 200,
        answer="The laptop leads.",
        status=TurnStatus.OK,
        queries=[{"sql": "SELECT name, category, revenue FROM products " + "a" * 300}],
        result=RESULT,
        chart=chart_for(RESULT),
    )
    old = Thread.objects.create(id=uuid.uuid4(), user=alice, title="Older one")
    run = EvaluationRun.objects.create(
        connection=connection, status=RunStatus.DONE, total=1, done=1
    )
    EvaluationResult.objects.create(
        run=run,
        position=1,
        question="Q",
        gold_sql="SELECT 1",
        outcome=Outcome.CORRECT,
        gold_rows=[[1]],
        returned_rows=[[1]],
    )
    board = Board.objects.create(owner=alice, name="Weekly")
    Tile.objects.create(
        board=board, connection=connection, turn=turn, title="Tile", sql="SELECT 1 AS n"
    )
    pages = [
        "/",
        "/history/",
        f"/history/{old.id}/",
        "/connections/",
        "/connections/add/",
        f"/connections/{connection.id}/edit/",
        "/accounts/tokens/",
        "/accounts/password/change/",
        f"/knowledge/{connection.id}/",
        f"/knowledge/{connection.id}/runs/",
        f"/knowledge/{connection.id}/runs/{run.id}/",
        "/boards/",
        f"/boards/{board.id}/",
    ]
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark"
    )
    problems: dict[str, Any] = {}
    try:
        page = context.new_page()
        for path in ("/accounts/login/", "/accounts/signup/"):
            page.goto(f"{live_server.url}{path}")
            _check(page, path, problems)
        log_in(page, live_server.url, alice.email)
        for path in pages:
            page.goto(f"{live_server.url}{path}")
            page.wait_for_load_state("load")
            _check(page, path, problems)
    finally:
        context.close()

    assert problems == {}


def _check(page: Any, path: str, problems: dict[str, Any]) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if wide > 0:
        problems[f"{path} overflow"] = wide
    seen = page.evaluate(CONTRAST, TEXT)
    if seen["checked"] < 5:
        problems[f"{path} checked"] = seen["checked"]
    if seen["worst"]:
        problems[f"{path} contrast"] = seen["worst"][:5]
