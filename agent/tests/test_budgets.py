"""Daily budgets of asks and model tokens, per user and per team: spent, /ask
answers 429 budget_spent with when it resets; GET /auth/me says what is left."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from agent.models import Turn

pytestmark = pytest.mark.django_db

QUESTION = "Which customers live in Germany?"


def _ask(client):
    return client.post("/ask", {"question": QUESTION}, format="json")


def _connect(client, connection):
    assert client.post(f"/databases/connect_db/{connection.id}").status_code == 200


def _next_utc_midnight():
    now = timezone.now().astimezone(UTC)
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.mark.parametrize("db_type", ["postgresql", "mysql", "sqlite"])
def test_a_users_asks_per_day_are_refused_with_when_they_reset(
    alice_client, alice, make_connection, llm_stub, settings, db_type
):
    settings.BUDGET_USER_ASKS_PER_DAY = 2
    _connect(alice_client, make_connection(alice, db_type))
    assert _ask(alice_client).status_code == 200
    assert alice_client.get("/auth/me").json()["budget"]["user"]["asks_left"] == 1
    assert _ask(alice_client).status_code == 200

    refused = _ask(alice_client)

    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "budget_spent"
    assert body["resets_at"] == _next_utc_midnight().isoformat()
    assert 0 < int(refused["Retry-After"]) <= 86400
    assert Turn.objects.count() == 2  # the refused ask stored nothing
    me = alice_client.get("/auth/me").json()["budget"]["user"]
    assert (me["asks_limit"], me["asks_used"], me["asks_left"]) == (2, 2, 0)
    # SQL of one's own calls no model: the budget does not stop it.
    sql = alice_client.post(
        "/ask/sql", {"sql": "SELECT COUNT(*) FROM customers"}, format="json"
    )
    assert sql.status_code == 200


def test_the_budget_comes_back_the_next_day(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.BUDGET_USER_ASKS_PER_DAY = 1
    _connect(alice_client, make_connection(alice, "sqlite"))
    assert _ask(alice_client).status_code == 200
    assert _ask(alice_client).status_code == 429

    # The day turns: yesterday's asks no longer count.
    Turn.objects.update(created_at=timezone.now() - timedelta(days=1))

    assert _ask(alice_client).status_code == 200


def test_model_tokens_per_day_are_counted_from_the_turns(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.BUDGET_USER_TOKENS_PER_DAY = 10
    _connect(alice_client, make_connection(alice, "sqlite"))
    first = _ask(alice_client)
    assert first.status_code == 200
    used = (
        first.json()["llm"]["prompt_tokens"] + first.json()["llm"]["completion_tokens"]
    )
    assert used > 10

    refused = _ask(alice_client)

    assert refused.status_code == 429
    assert refused.json()["code"] == "budget_spent"
    me = alice_client.get("/auth/me").json()["budget"]["user"]
    assert (me["tokens_used"], me["tokens_left"]) == (used, 0)


def test_a_streamed_ask_over_budget_is_an_ordinary_429(
    alice_client, alice, make_connection, llm_stub, settings
):
    settings.BUDGET_USER_ASKS_PER_DAY = 1
    _connect(alice_client, make_connection(alice, "sqlite"))
    assert _ask(alice_client).status_code == 200

    refused = alice_client.post(
        "/ask", {"question": QUESTION}, format="json", HTTP_ACCEPT="text/event-stream"
    )

    assert refused.status_code == 429
    assert refused.json()["code"] == "budget_spent"


def test_a_team_budget_set_by_its_admin_covers_every_member_on_its_connections(
    alice_client,
    bob_client,
    carol_client,
    carol,
    team,
    make_team_connection,
    make_connection,
    llm_stub,
):
    shared = make_team_connection(team, "sqlite")
    refused_patch = bob_client.patch(
        f"/teams/{team.id}", {"asks_per_day": 5}, format="json"
    )
    patched = alice_client.patch(
        f"/teams/{team.id}", {"asks_per_day": 1}, format="json"
    )
    assert refused_patch.status_code == 403
    assert patched.status_code == 200
    assert patched.json()["asks_per_day"] == 1
    _connect(bob_client, shared)
    _connect(carol_client, shared)

    assert _ask(bob_client).status_code == 200
    refused = _ask(carol_client)

    assert refused.status_code == 429
    assert "The team Data" in refused.json()["detail"]
    teams = carol_client.get("/auth/me").json()["budget"]["teams"]
    assert teams == [
        {
            "team_id": team.id,
            "asks_limit": 1,
            "asks_used": 1,
            "asks_left": 0,
            "tokens_limit": None,
            "tokens_used": teams[0]["tokens_used"],
            "tokens_left": None,
            "resets_at": _next_utc_midnight().isoformat(),
        }
    ]
    # Carol's own connection is not the team's: its budget does not apply.
    _connect(carol_client, make_connection(carol, "sqlite"))
    assert _ask(carol_client).status_code == 200


def test_with_no_budgets_set_me_says_there_is_no_limit(alice_client):
    budget = alice_client.get("/auth/me").json()["budget"]

    assert budget["user"]["asks_left"] is None
    assert budget["user"]["tokens_left"] is None
    assert budget["teams"] == []


def test_a_negative_team_budget_is_a_400(alice_client, team):
    response = alice_client.patch(
        f"/teams/{team.id}", {"tokens_per_day": -1}, format="json"
    )

    assert response.status_code == 400
    assert "tokens_per_day" in response.json()


def test_the_chat_page_says_what_is_left_today(
    alice, make_connection, llm_stub, settings
):
    from django.test import Client

    settings.BUDGET_USER_ASKS_PER_DAY = 3
    client = Client()
    client.force_login(alice)
    client.post(f"/connections/{make_connection(alice, 'sqlite').id}/connect/")
    client.post("/", {"question": QUESTION})

    page = client.get("/").content.decode()

    assert "2 questions left today" in page


def test_without_limits_the_chat_page_says_nothing_of_budgets(alice_page):
    assert 'id="budget-left"' not in alice_page.get("/").content.decode()
