"""An answer with no successful query behind it is flagged, after one nudge to query."""

from __future__ import annotations

import pytest

from agent.grounding import NUDGE
from agent.services import thread_ask
from testsupport.fake_llm import scripted, tool_call
from testsupport.llm_stub import StubReply, scripted_responder

pytestmark = pytest.mark.django_db


def test_a_prose_answer_gets_one_nudge_and_the_queried_answer_is_grounded(
    alice, connected_session
):
    from agent.services import thread_ask

    connected_session(alice, "sqlite")
    model = scripted(
        "You can use the following code to count customers.",
        tool_call("SELECT COUNT(*) FROM customers"),
        "There are six customers.",
    )

    turn = thread_ask(user=alice, question="How many customers?", chat_model=model)

    assert turn.grounded is True
    assert turn.answer == "There are six customers."
    assert model.received[1][-1].content == NUDGE
    assert turn.llm_calls == 3


def test_an_answer_that_never_queries_is_marked_ungrounded(
    alice_client, alice, make_connection, llm_stub
):
    connection = make_connection(alice, "sqlite")
    alice_client.post(f"/databases/connect_db/{connection.id}")
    llm_stub.responder = scripted_responder(
        [StubReply(content="Probably ten."), StubReply(content="Probably ten.")]
    )

    body = alice_client.post(
        "/ask", {"question": "How many orders are there?"}, format="json"
    ).json()

    assert body["grounded"] is False
    assert body["answer"] == "Probably ten."
    assert body["llm"]["calls"] == 2
    assert NUDGE in str(llm_stub.requests[1]["messages"][-1]["content"])
    page = alice_client.get(f"/threads/{body['thread_id']}").json()
    assert page["turns"][-1]["grounded"] is False


def test_a_greeting_is_not_nudged(alice, connected_session):
    from agent.services import thread_ask

    connected_session(alice, "sqlite")
    model = scripted("Hello! Ask me about your data.")

    turn = thread_ask(user=alice, question="hi", chat_model=model)

    assert turn.grounded is False
    assert len(model.received) == 1


def test_a_queried_answer_is_grounded_without_a_nudge(alice, connected_session):
    from agent.services import thread_ask

    connected_session(alice, "sqlite")
    model = scripted(tool_call("SELECT COUNT(*) FROM orders"), "Six orders.")

    turn = thread_ask(user=alice, question="How many orders?", chat_model=model)

    assert turn.grounded is True
    assert len(model.received) == 2


def test_a_refused_attempt_is_not_nudged_but_stays_ungrounded(alice, connected_session):
    connected_session(alice, "sqlite")
    model = scripted(tool_call("DELETE FROM customers"), "I can only read.")

    turn = thread_ask(user=alice, question="Delete every customer", chat_model=model)

    assert turn.answer == "I can only read."
    assert turn.llm_calls == 2
    assert turn.grounded is False
