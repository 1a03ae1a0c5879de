"""The chat page, past conversations, and a turn's rows as CSV."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
from django.test import Client

from agent.models import Thread, Turn, TurnStatus
from connections.models import SessionStatus, UserSession
from testsupport.fixtures import shop_snapshot
from testsupport.llm_stub import StubLLMServer, keyword_responder

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)>"
XSS_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def _thread_with_turn(user: Any, **turn_fields: Any) -> Turn:
    thread = Thread.objects.create(id=uuid.uuid4(), user=user, title="Stored rows")
    fields = {
        "question": "Show the rows",
        "answer": "Here they are.",
        "status": TurnStatus.OK,
        "queries": [
            {
                "sql": "SELECT 1",
                "row_count": 1,
                "truncated": False,
                "duration_ms": 1.0,
                "error": None,
            }
        ],
        "result": {"columns": ["n"], "rows": [[1]], "row_count": 1, "truncated": False},
    }
    return Turn.objects.create(thread=thread, **{**fields, **turn_fields})


def test_the_chat_page_without_connections_says_how_to_start(
    alice_page: Client,
) -> None:
    response = alice_page.get("/")

    assert response.status_code == 200
    assert "<title>Chat · SQLAgent</title>" in response.text
    assert "no database connected" in response.text
    assert 'href="/connections/add/"' in response.text


def test_the_picker_offers_only_my_connections(
    alice_page: Client, alice: Any, bob: Any, make_connection: Any
) -> None:
    make_connection(alice, "sqlite", label="Alice shop")
    make_connection(bob, "sqlite", label="Bob shop")

    response = alice_page.get("/")

    assert "Alice shop" in response.text
    assert "Bob shop" not in response.text


def test_asking_shows_the_answer_the_sql_and_the_table(
    alice_page: Client, alice: Any, connected_session: Any, llm_stub: Any
) -> None:
    connected_session(alice, "sqlite")

    response = alice_page.post("/", {"question": "Which customers are in Germany?"})

    assert response.status_code == 302
    page = alice_page.get("/").text
    assert "Which customers are in Germany?" in page
    assert "Here is what I found:" in page
    assert (
        "SELECT id, name, country FROM customers WHERE country = &#x27;Germany&#x27;"
        in page
    )
    assert "<td>Ada Lovelace</td>" in page
    assert "<td>Fatima Zahra</td>" in page
    assert "<td>Bruno Costa</td>" not in page
    turn = Turn.objects.get(thread__user=alice)
    # The downloads export every row of the SQL run again.
    export = f"/threads/{turn.thread_id}/turns/{turn.id}/export"
    assert f'href="{export}?format=csv"' in page
    assert f'href="{export}?format=xlsx"' in page


def test_a_follow_up_appears_below_the_first_turn_in_the_same_thread(
    alice_page: Client, alice: Any, connected_session: Any, llm_stub: Any
) -> None:
    session = connected_session(alice, "sqlite")

    alice_page.post("/", {"question": "List the customers"})
    alice_page.post("/", {"question": "And their orders?"})
    page = alice_page.get("/").text

    assert page.index("List the customers") < page.index("And their orders?")
    thread = Thread.objects.get(user=alice)
    assert thread.id == session.id
    assert [t.question for t in thread.turns.all()] == [
        "List the customers",
        "And their orders?",
    ]


def test_without_an_llm_the_page_shows_what_to_set_and_keeps_the_question(
    alice_page: Client, alice: Any, connected_session: Any, settings: Any
) -> None:
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    connected_session(alice, "sqlite")

    response = alice_page.post("/", {"question": "How many customers?"})

    assert response.status_code == 200
    assert "No LLM is configured. Set OPENAI_API_KEY" in response.text
    assert "How many customers?</textarea>" in response.text


def test_asking_without_a_database_shows_a_readable_message(
    alice_page: Client, llm_stub: Any
) -> None:
    response = alice_page.post("/", {"question": "How many customers?"})

    assert response.status_code == 200
    assert "No database connected for this session." in response.text


def test_an_unreachable_database_shows_a_readable_message(
    alice_page: Client, alice: Any, connected_session: Any, llm_stub: Any
) -> None:
    session = connected_session(alice, "postgresql")
    # The server moves away after the connect: nothing listens on port 1.
    type(session.db_connection).objects.filter(pk=session.db_connection_id).update(
        port=1
    )

    response = alice_page.post("/", {"question": "How many customers?"})

    assert response.status_code == 200
    assert "The database could not be read: connection failed" in response.text
    assert "port 1 failed: Connection refused" in response.text
    assert Turn.objects.get(thread__user=alice).status == TurnStatus.ERROR


def test_a_refused_query_is_shown_with_its_reason_and_changes_nothing(
    alice_page: Client, alice: Any, connected_session: Any, settings: Any, shop: Any
) -> None:
    before = shop_snapshot("sqlite", shop["sqlite_dir"])
    responder = keyword_responder(rules=[(r"delete", "DELETE FROM customers")])
    with StubLLMServer(responder=responder) as stub:
        settings.OPENAI_BASE_URL = stub.base_url
        settings.OPENAI_API_KEY = "sk-test"
        connected_session(alice, "sqlite")

        alice_page.post("/", {"question": "Please delete every customer"})
        page = alice_page.get("/").text

    assert "DELETE FROM customers" in page
    assert "refused or failed" in page
    turn = Turn.objects.get(thread__user=alice)
    assert turn.queries[0]["error"]
    assert shop_snapshot("sqlite", shop["sqlite_dir"]) == before


def test_an_over_long_question_is_a_form_error(
    alice_page: Client, alice: Any, settings: Any
) -> None:
    settings.QUESTION_MAX_LENGTH = 20

    response = alice_page.post("/", {"question": "x" * 21})

    assert response.status_code == 200
    assert "Ensure this value has at most 20 characters" in response.text
    assert not Turn.objects.exists()


def test_html_in_the_data_is_shown_as_text_on_every_page(
    alice_page: Client, alice: Any, connected_session: Any, llm_stub: Any
) -> None:
    connected_session(alice, "sqlite")

    alice_page.post("/", {"question": "Show me the notes"})
    thread = Thread.objects.get(user=alice)
    pages = [
        alice_page.get("/").text,
        alice_page.get(f"/history/{thread.id}/").text,
    ]

    for page in pages:
        assert f"<td>{XSS_ESCAPED}</td>" in page
        assert XSS not in page


def test_html_in_a_stored_question_and_title_is_shown_as_text(
    alice_page: Client, alice: Any
) -> None:
    turn = _thread_with_turn(alice, question=XSS, answer=XSS)
    Thread.objects.filter(pk=turn.thread_id).update(title=XSS)

    for path in ("/history/", f"/history/{turn.thread_id}/"):
        page = alice_page.get(path).text
        assert XSS_ESCAPED in page
        assert XSS not in page


def test_a_truncated_result_carries_a_note(alice_page: Client, alice: Any) -> None:
    turn = _thread_with_turn(
        alice,
        result={
            "columns": ["n"],
            "rows": [[1], [2]],
            "row_count": 2,
            "truncated": True,
        },
    )

    page = alice_page.get(f"/history/{turn.thread_id}/").text

    assert "Showing the first 2 rows: the query returned more" in page


def test_disconnecting_keeps_the_conversation_in_history(
    alice_page: Client, alice: Any, connected_session: Any, llm_stub: Any
) -> None:
    session = connected_session(alice, "sqlite")
    alice_page.post("/", {"question": "List the customers"})

    alice_page.post("/session/disconnect/")
    chat = alice_page.get("/").text
    history = alice_page.get("/history/").text

    assert UserSession.objects.get(pk=session.pk).status == SessionStatus.CLOSED
    # Gone from the chat itself; still listed among the conversations beside it.
    main, sidebar = chat.split('<aside class="sidebar"', 1)
    assert "List the customers" not in main
    assert "List the customers" in sidebar
    assert f'href="/history/{session.id}/"' in history
    detail = alice_page.get(f"/history/{session.id}/").text
    assert "<td>Ada Lovelace</td>" in detail
    assert "Continue this conversation" in detail
    assert 'id="ask-form"' not in detail


def test_bob_gets_404_for_alices_thread_and_csv(bob_page: Client, alice: Any) -> None:
    turn = _thread_with_turn(alice)

    assert bob_page.get(f"/history/{turn.thread_id}/").status_code == 404
    assert bob_page.get(f"/turns/{turn.id}/csv/").status_code == 404
    assert "Stored rows" not in bob_page.get("/history/").text


def test_an_unknown_thread_is_a_404(alice_page: Client) -> None:
    assert alice_page.get(f"/history/{uuid.uuid4()}/").status_code == 404


def test_the_csv_holds_the_stored_rows_with_formulas_neutralised(
    alice_page: Client, alice: Any
) -> None:
    turn = _thread_with_turn(
        alice,
        result={
            "columns": ["name", "=cmd", "total"],
            "rows": [
                ['=HYPERLINK("http://evil")', "+1", -3],
                ["@SUM(A1)", "-2+3", 4.5],
                ["plain, with comma", None, 0],
            ],
            "row_count": 3,
            "truncated": False,
        },
    )
    # Named after the turn's own question, not the thread's first one.
    Thread.objects.filter(pk=turn.thread_id).update(title="First question")
    Turn.objects.filter(pk=turn.pk).update(question='Big "orders"/../x')

    response = alice_page.get(f"/turns/{turn.id}/csv/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="sqlagent-big-ordersx-turn-{turn.id}.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["name", "'=cmd", "total"],
        ['\'=HYPERLINK("http://evil")', "'+1", "-3"],
        ["'@SUM(A1)", "'-2+3", "4.5"],
        ["plain, with comma", "", "0"],
    ]


def test_a_turn_without_rows_has_no_csv(alice_page: Client, alice: Any) -> None:
    turn = _thread_with_turn(alice, result=None, status=TurnStatus.ERROR)

    assert alice_page.get(f"/turns/{turn.id}/csv/").status_code == 404


def test_anonymous_visitors_are_sent_to_login_from_every_agent_page(
    client: Client, alice: Any
) -> None:
    turn = _thread_with_turn(alice)

    for path in (
        "/",
        "/history/",
        f"/history/{turn.thread_id}/",
        f"/turns/{turn.id}/csv/",
    ):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.url.startswith("/accounts/login/?next=")


@pytest.mark.parametrize(("hidden", "shown"), [(False, True), (True, False)])
def test_a_masked_value_the_answer_names_by_token_reads_as_the_value_for_its_owner(
    alice_page: Client, alice: Any, make_connection: Any, hidden: bool, shown: bool
) -> None:
    from agent.privacy import PrivacyPolicy

    connection = make_connection(
        alice, "sqlite", masked_columns=["*email*"], masked_hidden=hidden
    )
    token = PrivacyPolicy.for_connection(connection).token("ada@example.com")
    turn = _thread_with_turn(
        alice,
        answer=f"Ada's address is {token}.",
        result={
            "columns": ["name", "email"],
            "rows": [["Ada", "ada@example.com" if not hidden else token]],
            "row_count": 1,
            "truncated": False,
        },
    )
    Thread.objects.filter(pk=turn.thread_id).update(db_connection=connection)

    page = alice_page.get(f"/history/{turn.thread_id}/").content.decode()

    assert ("Ada's address is ada@example.com." in page) is shown
    assert (token in page) is not shown
    # What the model reads back as history keeps the token.
    turn.refresh_from_db()
    assert turn.answer == f"Ada's address is {token}."
