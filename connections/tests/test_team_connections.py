"""Team connections: an admin shares a database with a team; members connect and
ask by their role; anyone else, or a member who left, finds nothing there.

The team (testsupport/teams.py): alice admin, bob analyst, carol viewer;
mallory is in no team.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from accounts.services import token_create
from agent.models import Thread, Turn
from connections.models import DatabaseConnection, UserSession
from connections.tests.test_connections_api import _body
from knowledge.models import (
    EvaluationRun,
    Example,
    GoldenQuestion,
    GoldenSet,
    Instruction,
    SchemaNote,
)
from teams.models import Membership, TeamRole
from teams.services import member_remove, team_delete
from testsupport.fixtures import ENGINES, api_client_for
from testsupport.mcp import mcp_tool_call
from testsupport.routes import project_routes

pytestmark = pytest.mark.django_db

COUNT_SQL = "SELECT COUNT(*) AS n FROM customers"


def _connect(client: Any, connection: DatabaseConnection) -> str:
    response = client.post(f"/databases/connect_db/{connection.id}")
    assert response.status_code == 200, response.content
    return response.json()["session_id"]


def _run_sql(client: Any, sql: str = COUNT_SQL) -> Any:
    return client.post("/ask/sql", {"sql": sql}, format="json")


# -- sharing -------------------------------------------------------------------


@pytest.mark.parametrize("db_type", ENGINES)
def test_an_admin_adds_a_connection_for_the_team(
    alice_client, alice, team, shop, db_type
):
    response = alice_client.post(
        "/databases/add_db_connection", _body(db_type, team_id=team.id), format="json"
    )

    assert response.status_code == 201
    created = response.json()["db_connection"]
    assert created["team_id"] == team.id
    assert created["can_manage"] is True
    row = DatabaseConnection.objects.get(pk=created["id"])
    assert row.team == team
    assert row.owner == alice


def test_an_analyst_cannot_add_a_connection_for_the_team(bob_client, team, shop):
    response = bob_client.post(
        "/databases/add_db_connection", _body("sqlite", team_id=team.id), format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "team_role_required"
    assert not DatabaseConnection.objects.exists()


def test_a_non_member_cannot_add_a_connection_for_the_team(mallory_client, team, shop):
    response = mallory_client.post(
        "/databases/add_db_connection", _body("sqlite", team_id=team.id), format="json"
    )

    assert response.status_code == 404
    assert not DatabaseConnection.objects.exists()


def test_the_list_holds_own_and_team_connections_settings_for_admins_only(
    alice_client,
    bob_client,
    mallory_client,
    bob,
    team,
    make_connection,
    make_team_connection,
):
    shared = make_team_connection(team, "postgresql", label="Company")
    own = make_connection(bob, "sqlite", label="Mine")

    listed = {c["label"]: c for c in bob_client.get("/databases").json()}
    admin_view = alice_client.get("/databases").json()

    assert set(listed) == {"Company", "Mine"}
    assert listed["Mine"]["team_id"] is None
    assert listed["Mine"]["can_manage"] is True
    assert listed["Company"]["team_id"] == team.id
    assert listed["Company"]["can_manage"] is False
    assert listed["Company"]["database_name"] == shared.database_name
    # A member never sees where the database is nor as whom it is reached.
    assert not {"host", "port", "username", "options", "owner_id"} & set(
        listed["Company"]
    )
    assert [c["id"] for c in admin_view] == [shared.id]
    assert admin_view[0]["host"] == shared.host
    assert admin_view[0]["can_manage"] is True
    assert own.id not in [c["id"] for c in admin_view]
    assert mallory_client.get("/databases").json() == []


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("patch", ""), ("delete", ""), ("post", "/test")],
)
def test_only_a_team_admin_reads_changes_deletes_or_tests_a_team_connection(
    alice_client, bob_client, carol_client, team, make_team_connection, method, suffix
):
    shared = make_team_connection(team, "sqlite", label="Company")
    url = f"/databases/{shared.id}{suffix}"

    for client in (bob_client, carol_client):
        response = getattr(client, method)(url, {"label": "Mine"}, format="json")
        assert response.status_code == 403
        assert response.json()["code"] == "team_role_required"
    assert DatabaseConnection.objects.get(pk=shared.id).label == "Company"

    allowed = getattr(alice_client, method)(url, {"label": "Ours"}, format="json")
    assert allowed.status_code in {200, 204}


# -- asking by role ------------------------------------------------------------


@pytest.mark.parametrize("db_type", ENGINES)
def test_members_connect_and_run_sql_in_sessions_of_their_own(
    alice_client, bob_client, team, make_team_connection, db_type
):
    shared = make_team_connection(team, db_type)
    alice_session = _connect(alice_client, shared)
    bob_session = _connect(bob_client, shared)

    response = _run_sql(bob_client)

    assert response.status_code == 200, response.content
    assert response.json()["result"]["rows"] == [[6]]
    assert alice_session != bob_session
    assert response.json()["thread_id"] == bob_session
    assert Thread.objects.get(pk=bob_session).user.email == "bob@example.com"
    status = bob_client.get("/databases/session-status").json()
    assert status["database"]["id"] == shared.id
    assert status["database"]["host"] == ""
    assert status["database"]["username"] == ""


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_viewer_is_refused_sql_of_their_own(
    carol_client, carol, team, make_team_connection, db_type
):
    shared = make_team_connection(team, db_type)
    _connect(carol_client, shared)

    response = _run_sql(carol_client)

    assert response.status_code == 403
    assert response.json()["code"] == "team_role_required"
    assert not Turn.objects.exists()


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_viewer_is_refused_mcp_run_sql_and_an_analyst_is_not(
    bob_client, carol_client, bob, carol, team, make_team_connection, db_type
):
    shared = make_team_connection(team, db_type)
    _connect(carol_client, shared)
    _connect(bob_client, shared)
    carol_token = token_create(owner=carol, name="mcp", scope="sql").value
    bob_token = token_create(owner=bob, name="mcp", scope="sql").value

    refused = mcp_tool_call(carol_token, "run_sql", {"sql": COUNT_SQL})
    allowed = mcp_tool_call(bob_token, "run_sql", {"sql": COUNT_SQL})

    assert refused["isError"] is True
    assert "Viewers cannot run SQL" in refused["content"][0]["text"]
    assert allowed.get("isError") is not True
    assert Turn.objects.filter(thread__user=carol).count() == 0
    assert Turn.objects.filter(thread__user=bob).count() == 1


def test_a_viewer_asks_on_a_team_connection(
    carol_client, team, make_team_connection, llm_stub
):
    shared = make_team_connection(team, "sqlite")
    _connect(carol_client, shared)

    response = carol_client.post(
        "/ask", {"question": "Which customers live in Germany?"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert "Ada Lovelace" in response.json()["answer"]


# -- losing access -------------------------------------------------------------


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_removed_member_loses_the_database_mid_session(
    bob_client, bob, team, make_team_connection, db_type
):
    shared = make_team_connection(team, db_type)
    session_id = _connect(bob_client, shared)
    assert _run_sql(bob_client).status_code == 200

    member_remove(membership=Membership.objects.get(team=team, user=bob))

    response = _run_sql(bob_client)
    assert response.status_code == 409
    assert response.json()["code"] == "no_database_connected"
    status = bob_client.get("/databases/session-status").json()
    assert status["database_connected"] is False
    assert bob_client.get(f"/threads/{session_id}").status_code == 404
    assert bob_client.post(f"/databases/connect_db/{shared.id}").status_code == 404
    assert bob_client.get("/databases").json() == []


def test_a_member_removed_behind_the_services_back_loses_it_too(
    bob_client, bob, team, make_team_connection
):
    # The Django admin deletes a membership without the service's signal: the
    # session check on the next request still takes the database away.
    shared = make_team_connection(team, "sqlite")
    _connect(bob_client, shared)

    Membership.objects.filter(team=team, user=bob).delete()

    response = _run_sql(bob_client)
    assert response.status_code == 409
    assert UserSession.objects.get(user=bob, status="active").db_connection is None


def test_a_deleted_team_connection_is_gone_for_every_member(
    alice_client, bob_client, team, make_team_connection
):
    shared = make_team_connection(team, "sqlite")
    _connect(bob_client, shared)

    assert alice_client.delete(f"/databases/{shared.id}").status_code == 204

    response = _run_sql(bob_client)
    assert response.status_code == 409
    assert response.json()["code"] == "no_database_connected"


def test_a_deleted_team_takes_its_connections_from_every_session(
    bob_client, carol_client, team, make_team_connection
):
    shared = make_team_connection(team, "sqlite")
    _connect(bob_client, shared)
    _connect(carol_client, shared)

    team_delete(team=team)

    assert not DatabaseConnection.objects.filter(pk=shared.id).exists()
    for client in (bob_client, carol_client):
        response = _run_sql(client)
        assert response.status_code == 409
        assert response.json()["code"] == "no_database_connected"


# -- every route of a team connection -----------------------------------------

_ROUTES = [
    route
    for route in project_routes()
    if re.search(r"\(\?P<(db_id|connection_id|thread_id|turn_id)>", route.pattern)
    # Stop is only ever the caller's own running ask (tested in test_ask_api).
    and route.pattern != r"ask/(?P<turn_id>[0-9]+)/cancel\Z"
]


def _team_objects(
    team: Any, bob: Any, bob_client: Any, make_team_connection: Any, db_type: str
) -> dict[str, Any]:
    """A team connection with one of everything on it, and bob's turn there."""
    shared = make_team_connection(team, db_type)
    note = SchemaNote.objects.create(
        connection=shared, table_name="customers", description="People."
    )
    instruction = Instruction.objects.create(connection=shared, text="Be brief.")
    example = Example.objects.create(
        connection=shared, question="How many?", sql=COUNT_SQL
    )
    run = EvaluationRun.objects.create(connection=shared, status="done")
    golden = GoldenSet.objects.create(connection=shared, name="gold")
    question = GoldenQuestion.objects.create(
        golden_set=golden, question="How many?", sql=COUNT_SQL
    )
    session_id = _connect(bob_client, shared)
    response = _run_sql(bob_client)
    assert response.status_code == 200
    return {
        "connection": shared,
        "objects": {"notes": note, "instructions": instruction, "examples": example},
        "run": run,
        "golden": golden,
        "question": question,
        "thread_id": session_id,
        "turn_id": response.json()["turn_id"],
    }


def _url(route: Any, made: dict[str, Any]) -> str:
    kind = re.search(r"knowledge/(notes|instructions|examples)", route.pattern)
    objects = made["objects"]
    values = {
        "db_id": made["connection"].id,
        "connection_id": made["connection"].id,
        "run_id": made["run"].id,
        "set_id": made["golden"].id,
        "question_id": made["question"].id,
        "note_id": objects["notes"].id,
        "instruction_id": objects["instructions"].id,
        "example_id": objects["examples"].id,
        "table": "customers",
        "thread_id": made["thread_id"],
        "turn_id": made["turn_id"],
        "object_id": objects[kind.group(1)].id if kind else 0,
    }
    path = re.sub(
        r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values[m.group(1)]), route.pattern
    )
    return "/" + path.removesuffix(r"\Z").replace("\\", "")


@pytest.mark.parametrize("db_type", ENGINES)
@pytest.mark.parametrize("who", ["non_member", "removed_member"])
def test_every_connection_knowledge_thread_turn_and_schema_route_is_404(
    team,
    bob,
    bob_client,
    carol,
    mallory,
    mallory_client,
    make_team_connection,
    db_type,
    who,
):
    made = _team_objects(team, bob, bob_client, make_team_connection, db_type)
    if who == "removed_member":
        member_remove(membership=Membership.objects.get(team=team, user=carol))
        outsider = api_client_for(carol)
    else:
        outsider = mallory_client
    body = {"label": "x", "text": "x", "question": "x", "sql": COUNT_SQL}

    page_client = Client()
    page_client.force_login(carol if who == "removed_member" else mallory)

    answers = {}
    for route in _ROUTES:
        url = _url(route, made)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if route.is_api and method not in route.methods:
                continue
            if route.is_api:
                call = getattr(outsider, method.lower())
                response = call(url, body, format="json")
            elif method in ("GET", "POST"):
                response = getattr(page_client, method.lower())(url, body)
                if response.status_code == 405:
                    continue  # a page that does not serve this method at all
            else:
                continue
            answers[f"{method} {url}"] = response.status_code

    # Every API route and every page of a connection, its knowledge, threads
    # and turns, as the URL resolver lists them, with each method it serves.
    assert len(answers) > 50
    assert {call: code for call, code in answers.items() if code != 404} == {}
    assert {str(_url(route, made)) for route in _ROUTES} == {
        call.split(" ", 1)[1] for call in answers
    }
    assert SchemaNote.objects.filter(connection=made["connection"]).count() == 1
    assert Example.objects.filter(connection=made["connection"]).count() == 1
    assert DatabaseConnection.objects.get(pk=made["connection"].id).label == ""


# -- knowledge by role ---------------------------------------------------------


def test_members_read_the_teams_knowledge_and_only_admins_change_it(
    alice_client, bob_client, carol_client, team, make_team_connection
):
    shared = make_team_connection(team, "sqlite")
    url = f"/databases/{shared.id}/knowledge/instructions"
    body = {"text": "Amounts are in euros."}

    for client in (bob_client, carol_client):
        assert client.get(url).status_code == 200
        refused = client.post(url, body, format="json")
        assert refused.status_code == 403
        assert refused.json()["code"] == "team_role_required"
    created = alice_client.post(url, body, format="json")

    assert created.status_code == 201
    assert [i["text"] for i in bob_client.get(url).json()] == ["Amounts are in euros."]
    detail = f"{url}/{created.json()['id']}"
    assert bob_client.get(detail).status_code == 200
    assert bob_client.delete(detail).status_code == 403
    assert Instruction.objects.filter(connection=shared).count() == 1


def test_a_viewers_own_connections_are_untouched_by_team_roles(
    carol_client, carol, make_connection
):
    own = make_connection(carol, "sqlite")
    _connect(carol_client, own)

    assert _run_sql(carol_client).status_code == 200
    assert carol_client.get(f"/databases/{own.id}").status_code == 200


def test_roles_are_read_per_request(
    alice_client, carol_client, carol, team, make_team_connection
):
    shared = make_team_connection(team, "sqlite")
    _connect(carol_client, shared)
    assert _run_sql(carol_client).status_code == 403

    Membership.objects.filter(team=team, user=carol).update(role=TeamRole.ANALYST)

    assert _run_sql(carol_client).status_code == 200


def test_a_member_who_is_not_admin_gets_403_on_every_knowledge_page(
    team, bob, bob_client, carol, make_team_connection
):
    made = _team_objects(team, bob, bob_client, make_team_connection, "sqlite")
    answers = {}
    for user in (bob, carol):
        client = Client()
        client.force_login(user)
        for route in _ROUTES:
            if route.is_api or not route.pattern.startswith("knowledge/"):
                continue
            url = _url(route, made)
            for method in ("get", "post"):
                code = getattr(client, method)(url, {"text": "x"}).status_code
                if code != 405:
                    answers[f"{user.email} {method} {url}"] = code

    assert len(answers) > 20
    assert {call: code for call, code in answers.items() if code != 403} == {}
    assert Instruction.objects.get(connection=made["connection"]).text == "Be brief."


def test_a_member_who_is_not_admin_changes_nothing_through_the_knowledge_api(
    team, bob, bob_client, carol_client, make_team_connection
):
    made = _team_objects(team, bob, bob_client, make_team_connection, "sqlite")
    body = {"text": "x", "question": "x", "sql": COUNT_SQL, "table_name": "orders"}
    answers = {}
    for name, client in (("bob", bob_client), ("carol", carol_client)):
        for route in _ROUTES:
            if not route.is_api or "(?P<db_id>" not in route.pattern:
                continue
            url = _url(route, made)
            for method in route.methods:
                if method == "GET":
                    continue
                if name == "bob" and method == "POST" and url.endswith("/examples"):
                    continue  # an analyst's proposal (test_team_knowledge.py)
                call = getattr(client, method.lower())
                answers[f"{name} {method} {url}"] = call(
                    url, body, format="json"
                ).status_code

    assert len(answers) > 25
    allowed_connect = {
        call for call in answers if "/connect_db/" in call
    }  # connecting is what members do
    refused = {c: code for c, code in answers.items() if c not in allowed_connect}
    assert {c: code for c, code in refused.items() if code != 403} == {}
    assert Instruction.objects.get(connection=made["connection"]).text == "Be brief."
    assert SchemaNote.objects.filter(connection=made["connection"]).count() == 1
