"""Asks started at the same instant with one ask left in the budget: exactly one
runs, every other one is refused with 429 budget_spent, whether they are one
user's or several members' of a team. Each ask has its own app-database
connection, as in separate processes: the claim holds in the database."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection as app_database

from agent.budgets import BudgetSpent, budget_claimed
from agent.models import Thread, Turn
from sqlagent_project import capacity
from teams.models import Membership, TeamRole
from testsupport.fixtures import api_client_for
from testsupport.llm_stub import keyword_responder

pytestmark = pytest.mark.django_db(transaction=True)

ASKERS = 6
QUESTION = "Which customers live in Germany?"


def _asked_at_once(clients: list[Any], llm_stub: Any) -> list[int]:
    """Post one ask per client, all released by one barrier; return the statuses.

    The model answers only once every other ask has been refused, so the one
    that runs is still running (its tokens not yet recorded) while the others
    check: it is the turn itself that counts, from the moment it passed.
    """
    refused_all = threading.Event()
    refusals: list[int] = []
    lock = threading.Lock()
    answer = keyword_responder()

    def responder(body: dict[str, Any]) -> Any:
        refused_all.wait(timeout=30)
        return answer(body)

    llm_stub.responder = responder
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = [0] * len(clients)

    def ask(index: int, client: Any) -> None:
        try:
            barrier.wait(timeout=30)
            status = client.post(
                "/ask", {"question": QUESTION}, format="json"
            ).status_code
            statuses[index] = status
            if status == 429:
                with lock:
                    refusals.append(index)
                    if len(refusals) == len(clients) - 1:
                        refused_all.set()
        finally:
            app_database.close()

    threads = [
        threading.Thread(target=ask, args=(index, client))
        for index, client in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return statuses


def _ask(client: Any) -> int:
    return client.post("/ask", {"question": QUESTION}, format="json").status_code


def _connect(user: Any, connection: Any) -> Any:
    client = api_client_for(user)
    response = client.post(f"/databases/connect_db/{connection.id}")
    assert response.status_code == 200
    return client


@pytest.fixture
def one_cpu_slot(settings: Any) -> None:
    # The lock's waiters must give the slot up, or the holder never finishes.
    settings.ASK_CPU_SLOTS = 1


def test_one_users_asks_at_once_with_one_left_run_exactly_one(
    alice, make_connection, llm_stub, settings, one_cpu_slot
):
    settings.BUDGET_USER_ASKS_PER_DAY = 1
    _connect(alice, make_connection(alice, "postgresql"))
    clients = [api_client_for(alice) for _ in range(ASKERS)]

    with capacity.waits_checked() as held:
        statuses = _asked_at_once(clients, llm_stub)

    assert sorted(statuses) == [200] + [429] * (ASKERS - 1)
    assert Turn.objects.count() == 1
    assert held == []  # the lock was waited for without the CPU slot
    assert capacity._cpu_slots.get()._value == 1


def test_team_members_asking_at_once_with_one_left_run_exactly_one(
    alice,
    team,
    make_user,
    make_team_connection,
    llm_stub,
    settings,
):
    settings.BUDGET_TEAM_ASKS_PER_DAY = 1
    # No CPU slots: the asks' checks really overlap.
    settings.ASK_CPU_SLOTS = 0
    members = [alice] + [
        make_user(f"member{index}@example.com") for index in range(ASKERS - 1)
    ]
    for member in members[1:]:
        Membership.objects.create(team=team, user=member, role=TeamRole.VIEWER)
    shared = make_team_connection(team, "postgresql")
    clients: list[Any] = [_connect(member, shared) for member in members]

    statuses = _asked_at_once(clients, llm_stub)

    assert sorted(statuses) == [200] + [429] * (ASKERS - 1)
    assert Turn.objects.count() == 1


def test_a_refused_ask_leaves_no_thread_behind(
    alice, bob, team, make_team_connection, llm_stub, settings
):
    """The refusal rolls back what the claimed step wrote (a first ask's thread)."""
    settings.BUDGET_TEAM_ASKS_PER_DAY = 1
    shared = make_team_connection(team, "sqlite")
    assert _ask(_connect(alice, shared)) == 200

    assert _ask(_connect(bob, shared)) == 429

    assert list(Thread.objects.values_list("user_id", flat=True)) == [alice.pk]


def _lock_waiters() -> int:
    """Return how many sessions of the app database wait for a lock right now."""
    with app_database.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def test_a_second_claim_waits_for_the_first_ones_turn_and_counts_it(
    alice, make_connection, settings
):
    """The interleaving that lost the race, made to happen: the first ask has
    passed the check and recorded its turn but not committed when the second
    checks. The second waits in the database, then counts the first's turn."""
    settings.BUDGET_USER_ASKS_PER_DAY = 1
    connection = make_connection(alice, "sqlite")
    thread = Thread.objects.create(
        id=uuid.uuid4(), user=alice, db_connection=connection, title="Race"
    )
    first_recorded = threading.Event()
    first_may_commit = threading.Event()
    outcomes: dict[str, str] = {}

    def claim(name: str, inside: Callable[[], object]) -> None:
        try:
            with budget_claimed(user=alice, connection=connection):
                Turn.objects.create(thread=thread, question=name)
                inside()
            outcomes[name] = "ran"
        except BudgetSpent:
            outcomes[name] = "refused"
        finally:
            app_database.close()

    def hold_the_first_open() -> None:
        first_recorded.set()
        first_may_commit.wait(30)

    first = threading.Thread(target=claim, args=("first", hold_the_first_open))
    second = threading.Thread(target=claim, args=("second", lambda: None))
    first.start()
    assert first_recorded.wait(30)
    second.start()
    # The second claim is held by the database, not by chance: wait until the
    # server says a session waits for a lock (bounded), then let the first go.
    deadline = time.monotonic() + 10
    while _lock_waiters() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    waiting = _lock_waiters()
    first_may_commit.set()
    first.join(30)
    second.join(30)

    assert waiting == 1
    assert outcomes == {"first": "ran", "second": "refused"}
    assert list(Turn.objects.values_list("question", flat=True)) == ["first"]
