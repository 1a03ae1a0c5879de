"""The value index: built from the data within its caps and the privacy rules,
matched against the question before the first model call, shown on the page."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django_celery_results.models import TaskResult

from agent.services import thread_ask
from connections.services import connection_update
from knowledge.models import IndexedColumn, ValueIndex, ValueIndexStatus
from knowledge.value_context import value_context
from knowledge.values import (
    value_index_build,
    value_index_build_in_background,
    value_index_build_wait,
)
from testsupport.fake_llm import scripted, tool_call
from testsupport.fixtures import CITIES, ENGINES

pytestmark = pytest.mark.django_db


def _indexed(connection: Any) -> dict[str, list[str]]:
    return {
        f"{c.table_name}.{c.column_name}": c.values
        for c in IndexedColumn.objects.filter(connection=connection)
    }


def _sent(model: Any) -> str:
    return "\n".join(str(m.content) for call in model.received for m in call)


@pytest.mark.parametrize("db_type", ENGINES)
def test_the_index_holds_each_text_columns_distinct_values(
    alice, make_connection, places, db_type
):
    connection = make_connection(alice, db_type)

    index = value_index_build(connection=connection)

    indexed = _indexed(connection)
    assert index.status == ValueIndexStatus.READY
    assert indexed["places.city"] == sorted(CITIES)
    assert indexed["customers.country"] == ["France", "Germany", "Spain", "USA"]
    # Numbers and dates are not text a question names.
    assert not any(key.startswith("orders.") for key in indexed)
    assert index.values == sum(len(v) for v in indexed.values())
    assert index.bytes >= len("Zürich".encode())


@pytest.mark.parametrize("db_type", ["sqlite"])
def test_a_column_with_more_distinct_values_than_the_setting_is_left_out(
    alice, make_connection, places, settings, db_type
):
    settings.VALUE_INDEX_MAX_DISTINCT = 5
    connection = make_connection(alice, db_type)

    index = value_index_build(connection=connection)

    indexed = _indexed(connection)
    # Six customers: their names and emails are left out; four countries stay.
    assert "customers.name" not in indexed
    assert "customers.email" not in indexed
    assert indexed["customers.country"] == ["France", "Germany", "Spain", "USA"]
    assert index.skipped >= 2


@pytest.mark.parametrize("db_type", ["sqlite"])
def test_the_connections_byte_cap_bounds_the_index(
    alice, make_connection, places, settings, db_type
):
    settings.VALUE_INDEX_MAX_BYTES = 60
    connection = make_connection(alice, db_type)

    index = value_index_build(connection=connection)

    assert 0 < index.bytes <= 60
    assert index.skipped > 0


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_schema_tier_connection_gets_no_index(
    alice, make_connection, places, db_type
):
    connection = make_connection(alice, db_type, privacy="schema")

    index = value_index_build(connection=connection)

    assert index.status == ValueIndexStatus.OFF
    assert not IndexedColumn.objects.filter(connection=connection).exists()


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_masked_column_is_never_read_into_the_index(
    alice, make_connection, places, db_type
):
    connection = make_connection(alice, db_type, masked_columns=["places.city"])

    value_index_build(connection=connection)

    indexed = _indexed(connection)
    assert "places.city" not in indexed
    assert "customers.country" in indexed
    stored = json.dumps([c.values for c in IndexedColumn.objects.all()])
    assert "Zürich" not in stored


def test_rules_tightened_after_a_build_drop_what_they_now_hide(
    alice, make_connection, shop
):
    connection = make_connection(alice, "sqlite")
    value_index_build(connection=connection)
    assert "customers.country" in _indexed(connection)

    connection_update(connection=connection, masked_columns=["country"])
    assert "customers.country" not in _indexed(connection)
    assert "customers.name" in _indexed(connection)
    index = ValueIndex.objects.get(connection=connection)
    assert index.values == sum(len(v) for v in _indexed(connection).values())

    connection_update(connection=connection, privacy="schema")
    assert _indexed(connection) == {}
    assert ValueIndex.objects.get(connection=connection).status == "off"


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_question_word_is_named_with_its_stored_value_before_the_first_call(
    alice, connected_session, places, db_type
):
    session = connected_session(alice, db_type)
    value_index_build(connection=session.db_connection)
    model = scripted(
        tool_call("SELECT COUNT(*) FROM places WHERE city = 'Zürich'"),
        "One place is in Zürich.",
    )

    turn = thread_ask(
        user=alice, question="How many places in zurich?", chat_model=model
    )

    first_request = "\n".join(str(m.content) for m in model.received[0])
    assert "\"zurich\" → places.city = 'Zürich'" in first_request
    assert turn.llm_calls == 2
    assert turn.result["rows"] == [[1]]
    assert turn.diagnosis == []


def test_close_and_misspelt_words_find_their_values(alice, make_connection, shop):
    connection = make_connection(alice, "sqlite")
    value_index_build(connection=connection)

    found = value_context(
        connection_id=connection.pk,
        question="Orders from customers in GERMANY or Frnace?",
        table_names=["customers", "orders"],
    )

    assert "\"GERMANY\" → customers.country = 'Germany'" in found.text
    assert "\"Frnace\" → customers.country = 'France'" in found.text
    assert found.tables == ["customers"]


def test_a_question_on_a_connection_without_a_ready_index_matches_nothing(
    alice, make_connection, shop
):
    connection = make_connection(alice, "sqlite")

    found = value_context(
        connection_id=connection.pk,
        question="Customers in Germany",
        table_names=["customers"],
    )

    assert found.text == ""


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_mask_added_after_the_build_keeps_the_values_out_of_the_prompt(
    alice, connected_session, places, db_type
):
    session = connected_session(alice, db_type)
    connection = session.db_connection
    value_index_build(connection=connection)
    # Masked behind the index's back (no save signal): read-time rules still hold.
    type(connection).objects.filter(pk=connection.pk).update(
        masked_columns=["places.city"]
    )
    model = scripted(tool_call("SELECT COUNT(*) FROM places"), "Four places.")

    thread_ask(user=alice, question="How many places in zurich?", chat_model=model)

    assert "Zürich" not in _sent(model)


def test_the_knowledge_page_shows_the_index_size_and_age(
    alice, alice_page, make_connection, shop
):
    connection = make_connection(alice, "sqlite")
    value_index_build(connection=connection)

    page = alice_page.get(f"/knowledge/{connection.pk}/").content.decode()

    index = ValueIndex.objects.get(connection=connection)
    assert f"{index.values} values of {index.columns} columns" in page
    assert "built" in page


def test_the_api_reports_the_index_and_queues_a_rebuild(
    alice, alice_client, bob_client, anon_client, make_connection, shop, monkeypatch
):
    connection = make_connection(alice, "sqlite")
    queued: list[int] = []

    def queue(*, connection_id: int) -> bool:
        queued.append(connection_id)
        return True

    monkeypatch.setattr("knowledge.values.value_index_build_in_background", queue)
    url = f"/databases/{connection.pk}/knowledge/values"

    assert alice_client.get(url).json()["status"] == "none"
    assert alice_client.post(url).status_code == 202
    assert queued == [connection.pk]
    assert bob_client.get(url).status_code == 404
    assert bob_client.post(url).status_code == 404
    assert anon_client.get(url).status_code == 401
    assert anon_client.post(url).status_code == 401


def _queue_recorder(monkeypatch) -> list[int]:
    queued: list[int] = []

    def queue(*, connection_id: int) -> bool:
        queued.append(connection_id)
        return True

    monkeypatch.setattr("knowledge.values.value_index_build_in_background", queue)
    return queued


def test_a_connect_queues_a_build_only_when_the_index_is_missing_or_old(
    alice,
    make_connection,
    shop,
    settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    from connections.services import session_connect, session_get_or_create_active

    settings.VALUE_INDEX_ON_CONNECT = True
    queued = _queue_recorder(monkeypatch)
    connection = make_connection(alice, "sqlite")
    session = session_get_or_create_active(user=alice)

    with django_capture_on_commit_callbacks(execute=True):
        session_connect(session=session, connection=connection)
    assert queued == [connection.pk]

    value_index_build(connection=connection)
    with django_capture_on_commit_callbacks(execute=True):
        session_connect(session=session, connection=connection)
    assert queued == [connection.pk]  # fresh: not again

    settings.VALUE_INDEX_MAX_AGE_S = 0
    with django_capture_on_commit_callbacks(execute=True):
        session_connect(session=session, connection=connection)
    assert queued == [connection.pk, connection.pk]


def test_the_last_build_keeps_serving_while_the_next_one_runs(
    alice, make_connection, shop
):
    connection = make_connection(alice, "sqlite")
    value_index_build(connection=connection)
    ValueIndex.objects.filter(connection=connection).update(
        status=ValueIndexStatus.BUILDING
    )

    found = value_context(
        connection_id=connection.pk,
        question="Customers in germany",
        table_names=["customers"],
    )

    assert "customers.country = 'Germany'" in found.text


@pytest.mark.django_db(transaction=True)
def test_a_build_queued_in_the_background_fills_the_index(alice, make_connection, shop):
    connection = make_connection(alice, "sqlite")

    assert value_index_build_in_background(connection_id=connection.pk)
    value_index_build_wait(connection_id=connection.pk, timeout_s=60)

    index = ValueIndex.objects.get(connection=connection)
    assert index.status == ValueIndexStatus.READY
    assert "customers.country" in _indexed(connection)


@pytest.mark.django_db(transaction=True)
def test_with_a_broker_the_build_crosses_it_to_a_worker(
    redis_broker, alice, make_connection, shop
):
    from testsupport.queue import celery_worker_running

    connection = make_connection(alice, "sqlite")

    assert value_index_build_in_background(connection_id=connection.pk)
    # On the broker, not built by this process.
    assert not ValueIndex.objects.filter(
        connection=connection, status=ValueIndexStatus.READY
    ).exists()
    with celery_worker_running():
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and not ValueIndex.objects.filter(
                connection=connection, status=ValueIndexStatus.READY
            ).exists()
        ):
            time.sleep(0.1)

    assert "customers.country" in _indexed(connection)
    task = TaskResult.objects.get(task_name="knowledge.value_index_build")
    assert task.status == "SUCCESS"


def test_the_admin_lists_each_index_with_its_size_and_no_values(
    alice, make_user, make_connection, shop
):
    from django.test import Client

    connection = make_connection(alice, "sqlite")
    value_index_build(connection=connection)
    operator = make_user("operator@example.com")
    operator.is_staff = operator.is_superuser = True
    operator.save()
    client = Client()
    client.force_login(operator)

    page = client.get("/admin/knowledge/valueindex/").content.decode()

    assert "ready" in page.lower()
    assert "Germany" not in page


def test_an_index_turned_off_by_the_schema_tier_is_built_once_rows_are_allowed(
    alice,
    make_connection,
    shop,
    settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    from connections.services import session_connect, session_get_or_create_active

    settings.VALUE_INDEX_ON_CONNECT = True
    queued = _queue_recorder(monkeypatch)
    connection = make_connection(alice, "sqlite", privacy="schema")
    value_index_build(connection=connection)
    session = session_get_or_create_active(user=alice)

    with django_capture_on_commit_callbacks(execute=True):
        session_connect(session=session, connection=connection)
    assert queued == []

    connection_update(connection=connection, privacy="rows")
    with django_capture_on_commit_callbacks(execute=True):
        session_connect(session=session, connection=connection)
    assert queued == [connection.pk]


def test_the_command_builds_the_index_and_reports_it(alice, make_connection, shop):
    from io import StringIO

    from django.core.management import call_command

    connection = make_connection(alice, "sqlite")
    out = StringIO()

    call_command("build_value_index", str(connection.pk), "--json", stdout=out)

    summary = json.loads(out.getvalue())
    assert summary["status"] == "ready"
    assert summary["values"] == ValueIndex.objects.get(connection=connection).values


def test_the_command_refuses_an_unknown_connection(db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="No connection 999999"):
        call_command("build_value_index", "999999")


def test_the_rebuild_button_queues_a_build_for_the_owner_only(
    alice, alice_page, bob_page, make_connection, shop, monkeypatch
):
    connection = make_connection(alice, "sqlite")
    queued = _queue_recorder(monkeypatch)
    url = f"/knowledge/{connection.pk}/"

    response = alice_page.post(url, {"action": "values"})

    assert response.status_code == 302
    assert response["Location"].endswith("#values")
    assert queued == [connection.pk]
    assert bob_page.post(url, {"action": "values"}).status_code == 404
    assert queued == [connection.pk]
