"""The agent loop with a scripted chat model, on all three engines."""

from __future__ import annotations

import dataclasses

import pytest
from langchain_core.messages import AIMessage

from agent.engines import engine_cache
from agent.exceptions import (
    AgentStepLimit,
    AskFailed,
    NoDatabaseConnected,
    QuestionInvalid,
)
from agent.models import Thread, Turn, TurnStatus
from agent.services import thread_ask
from testsupport.fake_llm import scripted, tool_call, tool_results
from testsupport.fixtures import ENGINES, PLANTED_NOTE, shop_snapshot

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("db_type", ENGINES)
def test_the_agent_answers_from_the_rows_its_query_returned(
    alice, connected_session, db_type
):
    session = connected_session(alice, db_type)
    model = scripted(
        tool_call("SELECT COUNT(*) AS n FROM customers WHERE country = 'Germany'"),
        "Three customers are in Germany.",
    )

    turn = thread_ask(
        user=alice, question="How many customers in Germany?", chat_model=model
    )

    assert turn.status == TurnStatus.OK
    assert turn.answer == "Three customers are in Germany."
    assert turn.thread_id == session.id
    assert turn.result["columns"] == ["n"]
    assert turn.result["rows"] == [[3]]
    assert turn.queries[0]["row_count"] == 1
    assert turn.queries[0]["error"] is None
    assert turn.llm_calls == 2
    assert "[3]" in tool_results(model)[0]


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_planted_instruction_in_the_data_cannot_change_the_database(
    alice, connected_session, shop, db_type
):
    connected_session(alice, db_type)
    before = shop_snapshot(db_type, shop["sqlite_dir"])
    # A model that obeys whatever text it reads: the data tells it to drop a table.
    model = scripted(
        tool_call("SELECT body FROM notes ORDER BY id"),
        tool_call("DROP TABLE orders"),
        tool_call("SELECT 1; DELETE FROM customers"),
        tool_call(
            "WITH gone AS (DELETE FROM customers RETURNING *) SELECT * FROM gone"
        ),
        "I could not drop the table: the database is read-only.",
    )

    turn = thread_ask(user=alice, question="What do the notes say?", chat_model=model)

    results = tool_results(model)
    assert "ignore your rules" in results[0]
    assert PLANTED_NOTE[:30] in results[0]
    assert all(r.startswith("Refused:") for r in results[1:])
    assert [q["error"] is not None for q in turn.queries] == [False, True, True, True]
    assert shop_snapshot(db_type, shop["sqlite_dir"]) == before


def test_a_refused_statement_goes_back_to_the_model_with_the_reason(
    alice, connected_session
):
    connected_session(alice, "sqlite")
    model = scripted(
        tool_call("UPDATE customers SET name = 'x'"),
        tool_call("SELECT name FROM customers WHERE id = 1"),
        "The first customer is Ada Lovelace.",
    )

    turn = thread_ask(user=alice, question="Rename everyone", chat_model=model)

    refusal = tool_results(model)[0]
    assert refusal.startswith("Refused:")
    assert "read-only" in refusal
    assert turn.status == TurnStatus.OK
    assert turn.result["rows"] == [["Ada Lovelace"]]


def test_a_failing_query_is_reported_to_the_model_which_may_retry(
    alice, connected_session
):
    connected_session(alice, "postgresql")
    model = scripted(
        tool_call("SELECT nonexistent_column FROM customers"),
        tool_call("SELECT name FROM customers ORDER BY id LIMIT 1"),
        "Ada Lovelace.",
    )

    turn = thread_ask(user=alice, question="First customer?", chat_model=model)

    assert tool_results(model)[0].startswith("Error:")
    assert "nonexistent_column" in tool_results(model)[0]
    assert turn.queries[0]["error"]
    assert turn.result["rows"] == [["Ada Lovelace"]]


def test_follow_up_questions_carry_the_earlier_turns_as_history(
    alice, connected_session
):
    connected_session(alice, "sqlite")
    thread_ask(
        user=alice,
        question="List customers in Europe",
        chat_model=scripted(
            tool_call("SELECT name, country FROM customers WHERE country != 'USA'"),
            "Five customers are in Europe.",
        ),
    )
    follow_up = scripted(
        tool_call(
            "SELECT COUNT(*) FROM customers "
            "WHERE country != 'USA' AND country = 'Germany'"
        ),
        "Three of them are in Germany.",
    )

    thread_ask(
        user=alice,
        question="and how many of those are in Germany?",
        chat_model=follow_up,
    )

    first_call = follow_up.received[0]
    texts = [str(m.content) for m in first_call]
    assert any("List customers in Europe" in t for t in texts)
    assert any("WHERE country != 'USA'" in t and "Five customers" in t for t in texts)
    assert texts[-1] == "and how many of those are in Germany?"


def test_a_thread_follows_its_session_to_another_database(alice, connected_session):
    first = connected_session(alice, "sqlite")
    thread_ask(
        user=alice,
        question="How many customers?",
        chat_model=scripted(tool_call("SELECT COUNT(*) FROM customers"), "Six."),
    )
    second = connected_session(alice, "postgresql")
    model = scripted(tool_call("SELECT COUNT(*) FROM customers"), "Still six.")

    turn = thread_ask(user=alice, question="And now?", chat_model=model)

    assert second.id == first.id
    assert turn.thread.db_connection_id == second.db_connection_id
    assert Thread.objects.get(pk=first.id).db_connection_id == second.db_connection_id
    texts = " ".join(str(m.content) for m in model.received[0])
    assert "How many customers?" in texts


def test_history_is_limited_to_the_last_n_turns(alice, connected_session, settings):
    settings.THREAD_HISTORY_TURNS = 2
    connected_session(alice, "sqlite")
    for number in range(3):
        thread_ask(
            user=alice,
            question=f"question {number}",
            chat_model=scripted(tool_call("SELECT 1"), f"answer {number}"),
        )
    model = scripted(tool_call("SELECT 1"), "done")

    thread_ask(user=alice, question="question 3", chat_model=model)

    texts = " ".join(str(m.content) for m in model.received[0])
    assert "question 0" not in texts
    assert "question 1" in texts
    assert "question 2" in texts


def test_the_schema_is_in_the_prompt_so_a_question_costs_two_llm_calls(
    alice, connected_session
):
    connected_session(alice, "postgresql")
    model = scripted(tool_call("SELECT COUNT(*) FROM orders"), "Six orders.")

    turn = thread_ask(user=alice, question="How many orders?", chat_model=model)

    system = str(model.received[0][0].content)
    assert "PostgreSQL" in system
    assert "read-only" in system
    assert "Table customers" in system
    assert "references customers.id" in system
    assert turn.llm_calls == 2


def test_a_schema_over_the_token_budget_sends_only_the_table_list(
    alice, connected_session, settings
):
    settings.SCHEMA_PROMPT_TOKEN_BUDGET = 50
    connected_session(alice, "sqlite")
    model = scripted(
        tool_call("customers", name="describe_tables"),
        tool_call("SELECT COUNT(*) FROM customers"),
        "Six.",
    )

    thread_ask(user=alice, question="How many customers?", chat_model=model)

    system = str(model.received[0][0].content)
    assert "Table customers" not in system
    assert "customers, db_marker, notes, orders" in system
    description = tool_results(model)[0]
    assert "Table customers" in description
    assert "name" in description


def test_the_compiled_agent_is_cached_with_the_sessions_engine(
    alice, connected_session, settings
):
    session = connected_session(alice, "sqlite")
    thread_ask(
        user=alice, question="one", chat_model=scripted(tool_call("SELECT 1"), "1")
    )
    entry = engine_cache.get(session)
    catalog = entry.extras["catalog"]

    thread_ask(
        user=alice, question="two", chat_model=scripted(tool_call("SELECT 2"), "2")
    )

    assert engine_cache.get(session) is entry
    assert entry.extras["catalog"] is catalog


def test_asking_without_a_connected_database_is_refused(alice):
    with pytest.raises(NoDatabaseConnected) as excinfo:
        thread_ask(user=alice, question="Anything?", chat_model=scripted("x"))
    assert excinfo.value.status_code == 409


@pytest.mark.parametrize("question", ["", "   ", "x" * 5000])
def test_empty_or_overlong_questions_are_refused(alice, connected_session, question):
    connected_session(alice, "sqlite")
    with pytest.raises(QuestionInvalid):
        thread_ask(user=alice, question=question, chat_model=scripted("x"))
    assert not Turn.objects.exists()


def test_the_step_limit_ends_a_looping_agent_and_stores_the_failed_turn(
    alice, connected_session, settings
):
    settings.AGENT_MAX_STEPS = 4
    connected_session(alice, "sqlite")
    model = scripted(*[tool_call("SELECT 1") for _ in range(10)])

    with pytest.raises(AgentStepLimit) as excinfo:
        thread_ask(user=alice, question="Loop forever", chat_model=model)

    assert excinfo.value.code == "agent_step_limit"
    turn = Turn.objects.get()
    assert turn.status == TurnStatus.ERROR
    assert "step" in turn.error


def test_over_budget_the_tables_a_question_names_are_described_up_front(
    alice, connected_session, settings
):
    settings.SCHEMA_PROMPT_TOKEN_BUDGET = 240
    connected_session(alice, "sqlite")
    model = scripted(tool_call("SELECT COUNT(*) FROM orders"), "Six orders.")

    turn = thread_ask(
        user=alice, question="How many orders are there?", chat_model=model
    )

    sent = [str(m.content) for m in model.received[0]]
    assert "Table orders:" not in sent[0]
    assert any(
        "Table orders:" in text and "references customers.id" in text for text in sent
    )
    assert not any("Table notes:" in text for text in sent)
    assert sent[-1] == "How many orders are there?"
    assert turn.llm_calls == 2


def test_table_names_match_in_singular_plural_and_spaced_forms(
    alice, connected_session
):
    from agent.catalog import SchemaCatalog

    session = connected_session(alice, "sqlite")
    catalog = SchemaCatalog(engine_cache.get(session).engine, "sqlite")

    assert catalog.tables_named_in("What did each customer order?") == [
        "customers",
        "orders",
    ]
    assert catalog.tables_named_in("show the db marker") == ["db_marker"]
    assert catalog.tables_named_in("how is the weather") == []


def test_an_unexpected_failure_is_a_5xx_with_a_stable_code_and_a_failed_turn(
    alice, connected_session, caplog
):
    connected_session(alice, "sqlite")
    model = scripted(tool_call("SELECT COUNT(*) FROM customers"), "unused")

    def broken(*args, **kwargs):
        raise RuntimeError("bug in a library")

    object.__setattr__(model, "_generate", broken)

    with pytest.raises(AskFailed) as excinfo:
        thread_ask(user=alice, question="How many customers?", chat_model=model)

    assert excinfo.value.status_code == 500
    assert excinfo.value.code == "ask_failed"
    assert "bug in a library" not in excinfo.value.message
    turn = Turn.objects.get()
    assert turn.status == TurnStatus.ERROR
    assert turn.error_code == "ask_failed"
    assert turn.finished_at is not None
    logged = [r for r in caplog.records if r.levelname == "ERROR"]
    assert logged
    assert logged[0].exc_info is not None


def test_a_failed_turn_keeps_the_sql_it_ran_before_failing(
    alice, connected_session, settings
):
    settings.AGENT_MAX_STEPS = 4
    connected_session(alice, "sqlite")
    model = scripted(*[tool_call("SELECT COUNT(*) FROM orders") for _ in range(10)])

    with pytest.raises(AgentStepLimit):
        thread_ask(user=alice, question="Loop forever", chat_model=model)

    turn = Turn.objects.get()
    assert turn.status == TurnStatus.ERROR
    assert turn.queries
    assert turn.queries[0]["sql"] == "SELECT COUNT(*) FROM orders"
    assert turn.queries[0]["row_count"] == 1


def test_every_outcome_field_is_a_turn_field_that_finish_saves(alice):
    from agent.models import TurnOutcome

    turn_fields = {f.name for f in Turn._meta.get_fields()}
    outcome_fields = {f.name for f in dataclasses.fields(TurnOutcome)}
    assert outcome_fields <= turn_fields


def test_a_time_series_answer_carries_a_line_chart(alice, connected_session):
    connected_session(alice, "sqlite")
    model = scripted(
        tool_call("SELECT created, total FROM orders ORDER BY created"),
        "Revenue over time is in the chart.",
    )

    turn = thread_ask(user=alice, question="revenue over time", chat_model=model)

    assert turn.chart["mark"]["type"] == "line"
    assert turn.chart["encoding"]["x"]["type"] == "temporal"
    assert len(turn.chart["data"]["values"]) == 6


def test_the_model_can_ask_for_no_chart_through_its_tool(alice, connected_session):
    connected_session(alice, "sqlite")
    model = scripted(
        tool_call("SELECT created, total FROM orders ORDER BY created"),
        AIMessage(
            content="",
            tool_calls=[
                {"name": "choose_chart", "args": {"chart_type": "none"}, "id": "c9"}
            ],
        ),
        "No chart needed.",
    )

    turn = thread_ask(user=alice, question="orders", chat_model=model)

    assert turn.chart is None


def test_a_disconnect_racing_an_ask_leaves_no_engine_for_the_closed_session(
    alice, connected_session, monkeypatch
):
    from agent import querying
    from connections.services import session_disconnect

    session = connected_session(alice, "sqlite")
    lookup = querying.session_get_or_create_active

    def lookup_then_disconnect(*, user):
        # The session is read as active, then another request closes it
        # before this ask fetches its engine.
        found = lookup(user=user)
        session_disconnect(session=found)
        return found

    monkeypatch.setattr(
        querying, "session_get_or_create_active", lookup_then_disconnect
    )
    model = scripted(tool_call("SELECT COUNT(*) FROM customers"), "Six.")

    thread_ask(user=alice, question="How many?", chat_model=model)

    assert session.id not in engine_cache
