"""On a schema too big for the prompt, the first request describes the tables a
question needs: a retrieved fact table brings the tables it references, and a
stored value the question names brings its table."""

from __future__ import annotations

import pytest

from agent.engines import engine_cache
from agent.querying import catalog_get
from agent.schema_linking import referenced_tables, tables_to_describe
from agent.services import thread_ask
from agent.tokens import count_tokens
from knowledge.values import value_index_build
from testsupport.fake_llm import scripted, tool_call
from testsupport.fixtures import ENGINES

pytestmark = pytest.mark.django_db


def _first_request(model) -> str:
    return "\n".join(str(m.content) for m in model.received[0])


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_fact_table_brings_the_tables_it_references(
    alice, connected_session, db_type
):
    session = connected_session(alice, db_type)
    catalog = catalog_get(engine_cache.get(session))

    assert referenced_tables(catalog, "orders") == ["customers"]
    assert tables_to_describe(catalog, ["orders"], top_k=1) == [
        ("orders", "ranked"),
        ("customers", "orders references it"),
    ]


@pytest.mark.parametrize("db_type", ENGINES)
def test_the_question_naming_orders_gets_customers_described_up_front(
    alice, connected_session, settings, db_type
):
    session = connected_session(alice, db_type)
    catalog = catalog_get(engine_cache.get(session))
    # Just too small for the whole schema: the tables are described per question.
    whole = count_tokens(catalog.describe(catalog.table_names()))
    settings.SCHEMA_PROMPT_TOKEN_BUDGET = whole - 1
    settings.KNOWLEDGE_TOP_K_TABLES = 1
    model = scripted(tool_call("SELECT COUNT(*) FROM orders"), "Six orders.")

    turn = thread_ask(user=alice, question="Which orders are there?", chat_model=model)

    first = _first_request(model)
    assert "too many to describe" in first
    assert "Table orders:" in first
    # Its dimension, briefly: the columns to join on, no samples.
    assert "Table customers (orders references it): id INTEGER" in first
    # The turn records which tables were described and why.
    turn.refresh_from_db()
    assert turn.described_tables == [
        {"table": "orders", "why": "named in the question"},
        {"table": "customers", "why": "orders references it"},
    ]


def test_the_admin_shows_which_tables_a_turn_described(alice, connected_session):
    from django.test import Client

    from accounts.models import User
    from agent.models import Thread, Turn

    session = connected_session(alice, "sqlite")
    thread = Thread.objects.create(
        id=session.id, user=alice, db_connection=session.db_connection
    )
    turn = Turn.objects.create(
        thread=thread,
        question="Which orders?",
        described_tables=[{"table": "orders", "why": "named in the question"}],
    )
    admin = User.objects.create_superuser(email="root@example.com", password="x" * 12)
    client = Client()
    client.force_login(admin)

    page = client.get(f"/admin/agent/turn/{turn.pk}/change/").content.decode()

    assert "Tables described" in page
    assert "orders <small>(named in the question)</small>" in page


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_stored_value_the_question_names_brings_its_table(
    alice, connected_session, settings, caplog, db_type
):
    settings.SCHEMA_PROMPT_TOKEN_BUDGET = 260
    settings.KNOWLEDGE_TOP_K_TABLES = 1
    session = connected_session(alice, db_type)
    value_index_build(connection=session.db_connection)
    model = scripted(
        tool_call("SELECT name FROM customers WHERE country = 'Spain'"), "Emil."
    )

    turn = thread_ask(user=alice, question="Who lives in spain?", chat_model=model)

    first = _first_request(model)
    assert "Table customers:" in first
    assert "\"spain\" → customers.country = 'Spain'" in first
    assert turn.llm_calls == 2
    # The log says which tables were described, and why.
    assert "described=customers (a value the question names)" in caplog.text
