"""The knowledge and evaluation pages: owner only, forms that manage knowledge."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agent.models import Thread, Turn, TurnStatus
from knowledge import imports, services
from knowledge.models import (
    EvaluationResult,
    EvaluationRun,
    Example,
    GoldenQuestion,
    GoldenSet,
    Instruction,
    Outcome,
    RunStatus,
    SchemaNote,
)
from testsupport.fixtures import TARGET_DB

pytestmark = pytest.mark.django_db


def test_the_knowledge_page_adds_an_instruction_and_refuses_a_write_example(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    url = f"/knowledge/{connection.id}/"

    alice_page.post(url, {"action": "instruction", "text": "amt is in cents"})
    response = alice_page.post(
        url,
        {"action": "example", "question": "Wipe", "sql": "DELETE FROM orders"},
        follow=True,
    )

    assert Instruction.objects.get().text == "amt is in cents"
    assert not Example.objects.exists()
    page = response.content.decode()
    assert "amt is in cents" in page
    assert "Run evaluation" in page


def test_an_overlong_addition_is_refused_with_a_message_never_cut_to_fit(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    url = f"/knowledge/{connection.id}/"

    response = alice_page.post(
        url, {"action": "instruction", "text": "x" * 2001}, follow=True
    )
    refused_sql = alice_page.post(
        url,
        {"action": "example", "question": "Wipe", "sql": "DELETE FROM orders"},
        follow=True,
    )

    assert not Instruction.objects.exists()
    assert any("2000 characters" in m for m in _messages(response))
    assert any("DELETE" in m or "SELECT" in m for m in _messages(refused_sql))


def test_another_users_knowledge_page_is_a_404(bob_page, alice, make_connection):
    connection = make_connection(alice, "sqlite")
    assert bob_page.get(f"/knowledge/{connection.id}/").status_code == 404
    assert bob_page.get(f"/knowledge/{connection.id}/runs/").status_code == 404


def test_the_run_page_shows_each_questions_diff(alice_page, alice, make_connection):
    connection = make_connection(alice, "sqlite")
    run = EvaluationRun.objects.create(
        connection=connection,
        status=RunStatus.DONE,
        total=1,
        done=1,
        accuracy=0.0,
        ci_low=0.0,
        ci_high=0.79,
    )
    EvaluationResult.objects.create(
        run=run,
        position=1,
        question="How many orders?",
        gold_sql="SELECT COUNT(*) FROM orders",
        generated_sql="SELECT COUNT(*) FROM customers",
        outcome=Outcome.WRONG_ROWS,
        gold_rows=[[6]],
        returned_rows=[[7]],
    )

    page = alice_page.get(f"/knowledge/{connection.id}/runs/{run.id}/")

    text = page.content.decode()
    assert "SELECT COUNT(*) FROM customers" in text
    assert "Wrong rows" in text
    # Rows as tables, each row not in the other set marked.
    assert '<tr class="differs" title="Not in the other set of rows"><td>7</td>' in text
    assert '<tr class="differs" title="Not in the other set of rows"><td>6</td>' in text
    assert 'class="card eval-result outcome-wrong_rows"' in text
    runs = alice_page.get(f"/knowledge/{connection.id}/runs/").content.decode()
    assert f"#{run.id}" in runs


def test_an_answered_turn_offers_thumbs_up_and_down(alice_page, alice, make_connection):
    connection = make_connection(alice, "sqlite")
    thread = Thread.objects.create(
        id=uuid.uuid4(), user=alice, db_connection=connection
    )
    Turn.objects.create(
        thread=thread, question="How many?", answer="6", status=TurnStatus.OK
    )

    page = alice_page.get(f"/history/{thread.id}/").content.decode()

    assert 'aria-label="Good answer"' in page
    assert f"/threads/{thread.id}/turns/" in page


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# ---------------------------------------------------------------------------
# Instructions
# ---------------------------------------------------------------------------


def test_an_instruction_is_edited_on_its_own_page(alice_page, alice, make_connection):
    connection = make_connection(alice, "sqlite")
    instruction = services.instruction_create(connection=connection, text="amt: cents")
    url = f"/knowledge/{connection.id}/instructions/{instruction.id}/edit/"

    form = alice_page.get(url)
    response = alice_page.post(url, {"text": "  amt is in euro cents  "}, follow=True)

    assert form.status_code == 200
    assert "amt: cents" in form.content.decode()
    assert response.redirect_chain[-1][0] == f"/knowledge/{connection.id}/#instructions"
    instruction.refresh_from_db()
    assert instruction.text == "amt is in euro cents"
    assert "Instruction saved." in _messages(response)
    assert "amt is in euro cents" in response.content.decode()


def test_an_empty_instruction_is_refused_next_to_the_field_and_nothing_changes(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    instruction = services.instruction_create(connection=connection, text="amt: cents")

    response = alice_page.post(
        f"/knowledge/{connection.id}/instructions/{instruction.id}/edit/",
        {"text": "   "},
    )

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    instruction.refresh_from_db()
    assert instruction.text == "amt: cents"


def test_an_instruction_is_deleted_only_by_a_post_after_a_confirm_page(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    instruction = services.instruction_create(connection=connection, text="amt: cents")
    url = f"/knowledge/{connection.id}/instructions/{instruction.id}/delete/"

    confirm = alice_page.get(url)
    assert confirm.status_code == 200
    assert "Delete this instruction?" in confirm.content.decode()
    assert Instruction.objects.filter(pk=instruction.pk).exists()

    response = alice_page.post(url, follow=True)

    assert not Instruction.objects.filter(pk=instruction.pk).exists()
    assert "Instruction deleted." in _messages(response)


# ---------------------------------------------------------------------------
# Verified examples
# ---------------------------------------------------------------------------


def test_an_example_is_edited_and_its_changed_sql_forgets_the_last_check(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    example = services.example_create(
        connection=connection, question="How many?", sql="SELECT COUNT(*) FROM orders"
    )
    services.example_check(example=example)

    response = alice_page.post(
        f"/knowledge/{connection.id}/examples/{example.id}/edit/",
        {
            "question": "How many customers?",
            "sql": "SELECT COUNT(*) FROM customers",
            "instructions": "count people, not orders",
        },
        follow=True,
    )

    example.refresh_from_db()
    assert example.question == "How many customers?"
    assert example.sql == "SELECT COUNT(*) FROM customers"
    assert example.instructions == "count people, not orders"
    assert example.last_check_ok is None
    assert "Example “How many customers?” saved." in _messages(response)


def test_a_refused_sql_on_edit_shows_the_reason_keeps_the_input_and_the_stored_sql(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "postgresql")
    example = services.example_create(
        connection=connection, question="How many?", sql="SELECT COUNT(*) FROM orders"
    )

    response = alice_page.post(
        f"/knowledge/{connection.id}/examples/{example.id}/edit/",
        {"question": "Wipe them", "sql": "DELETE FROM customers", "instructions": ""},
    )

    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["sql"]
    page = response.content.decode()
    assert form.errors["sql"][0] in page
    # The user's input is shown again, to be corrected rather than retyped.
    assert "DELETE FROM customers</textarea>" in page
    assert 'value="Wipe them"' in page
    example.refresh_from_db()
    assert example.sql == "SELECT COUNT(*) FROM orders"
    assert example.question == "How many?"


def test_an_example_is_deleted_only_by_a_post(alice_page, alice, make_connection):
    connection = make_connection(alice, "sqlite")
    example = services.example_create(
        connection=connection, question="How many?", sql="SELECT COUNT(*) FROM orders"
    )
    url = f"/knowledge/{connection.id}/examples/{example.id}/delete/"

    assert "SELECT COUNT(*) FROM orders" in alice_page.get(url).content.decode()
    assert Example.objects.filter(pk=example.pk).exists()
    response = alice_page.post(url, follow=True)

    assert not Example.objects.filter(pk=example.pk).exists()
    assert "Example “How many?” deleted." in _messages(response)


def test_check_says_whether_each_example_still_works_on_todays_schema(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    good = services.example_create(
        connection=connection, question="Count", sql="SELECT COUNT(*) FROM customers"
    )
    stale = services.example_create(
        connection=connection, question="Old", sql="SELECT * FROM clients"
    )
    base = f"/knowledge/{connection.id}/examples"

    worked = alice_page.post(f"{base}/{good.id}/check/", follow=True)
    failed = alice_page.post(f"{base}/{stale.id}/check/", follow=True)

    assert "“Count” works on the database today." in _messages(worked)
    [message] = _messages(failed)
    assert message.startswith("“Old” fails: ")
    assert "clients" in message
    good.refresh_from_db()
    stale.refresh_from_db()
    assert good.last_check_ok is True
    assert stale.last_check_ok is False
    page = failed.content.decode()
    assert stale.last_check_error in page
    assert alice_page.get(f"{base}/{good.id}/check/").status_code == 405


# ---------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------


def _upload(name: str, text: str | bytes) -> SimpleUploadedFile:
    data = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, data)


def test_an_import_with_one_bad_line_reports_that_line_and_keeps_the_good_ones(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    text = (
        '{"question": "How many customers?", "sql": "SELECT COUNT(*) FROM customers"}\n'
        '{"question": "Broken", "sql": \n'
        '{"question": "Orders?", "sql": "SELECT * FROM orders", '
        '"instructions": "all columns"}\n'
    )

    response = alice_page.post(
        f"/knowledge/{connection.id}/import/",
        {"file": _upload("examples.jsonl", text), "set": ""},
        follow=True,
    )

    assert response.redirect_chain[-1][1] == 302  # a reload cannot upload again
    assert response.status_code == 200
    page = response.content.decode()
    assert "Imported 2 verified example(s); 1 line(s) not imported." in page
    assert "<td>Line 2</td><td>not valid JSON" in page
    examples = Example.objects.filter(connection=connection)
    assert [(e.question, e.instructions, e.source) for e in examples] == [
        ("How many customers?", "", "import"),
        ("Orders?", "all columns", "import"),
    ]


def test_a_csv_is_imported_into_a_named_golden_set_listed_with_its_count(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    text = (
        "question,sql\n"
        '"How many orders?","SELECT COUNT(*) FROM orders"\n'
        '"Remove all","DELETE FROM orders"\n'
        '"Customers?","SELECT name FROM customers"\n'
    )

    response = alice_page.post(
        f"/knowledge/{connection.id}/import/",
        {"file": _upload("gold.csv", text), "set": "smoke"},
        follow=True,
    )

    page = response.content.decode()
    assert "Imported 2 question(s) into the golden set “smoke”" in page
    assert "<td>Line 3</td>" in page
    assert not Example.objects.exists()
    assert GoldenQuestion.objects.filter(golden_set__name="smoke").count() == 2
    knowledge = alice_page.get(f"/knowledge/{connection.id}/").content.decode()
    golden = GoldenSet.objects.get(name="smoke")
    assert f'<tr id="golden-set-{golden.id}"><td>smoke</td>' in knowledge
    assert "<summary>2 questions</summary>" in knowledge
    for question in GoldenQuestion.objects.filter(golden_set=golden):
        assert question.question in knowledge


def test_a_file_of_only_bad_lines_creates_no_golden_set(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")

    response = alice_page.post(
        f"/knowledge/{connection.id}/import/",
        {
            "file": _upload("bad.csv", 'question,sql\n"Wipe","DELETE FROM orders"\n'),
            "set": "empty",
        },
        follow=True,
    )

    assert "Imported 0 question(s)" in response.content.decode()
    assert not GoldenSet.objects.exists()


def test_the_import_report_is_shown_once_after_the_redirect(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    url = f"/knowledge/{connection.id}/import/"
    alice_page.post(
        url,
        {"file": _upload("one.jsonl", '{"question": "Q?", "sql": "SELECT 1"}\n')},
    )

    first = alice_page.get(url).content.decode()
    again = alice_page.get(url).content.decode()

    assert "Imported 1 verified example(s)" in first
    assert "Imported" not in again
    assert Example.objects.count() == 1


def test_a_file_that_is_not_utf8_is_a_message_and_imports_nothing(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")

    response = alice_page.post(
        f"/knowledge/{connection.id}/import/",
        {"file": _upload("x.csv", b"question,sql\n\xff\xfe,SELECT 1\n")},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == f"/knowledge/{connection.id}/"
    assert _messages(response) == ["The file is not UTF-8 text."]
    assert not Example.objects.exists()


def test_an_import_without_a_file_asks_for_one(alice_page, alice, make_connection):
    connection = make_connection(alice, "sqlite")

    response = alice_page.post(f"/knowledge/{connection.id}/import/", {"set": "x"})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not GoldenSet.objects.exists()


def test_an_upload_over_the_body_limit_is_refused_before_any_import(
    alice_page, alice, make_connection, settings
):
    connection = make_connection(alice, "sqlite")
    settings.REQUEST_MAX_BYTES = 4096
    line = '{"question": "How many?", "sql": "SELECT COUNT(*) FROM orders"}\n'

    response = alice_page.post(
        f"/knowledge/{connection.id}/import/",
        {"file": _upload("big.jsonl", line * 100)},
        headers={"Accept": "text/html"},
    )

    assert response.status_code == 413
    assert "limit of 4096 bytes" in response.content.decode()
    assert not Example.objects.exists()


# ---------------------------------------------------------------------------
# Descriptions
# ---------------------------------------------------------------------------


def test_a_description_is_edited_and_is_then_written_by_hand(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    note = SchemaNote.objects.create(
        connection=connection,
        table_name="orders",
        column_name="total",
        description="Total",
        source=SchemaNote.Source.DATABASE,
    )

    response = alice_page.post(
        f"/knowledge/{connection.id}/notes/{note.id}/edit/",
        {"table_name": "orders", "column_name": "total", "description": "in EUR"},
        follow=True,
    )

    note.refresh_from_db()
    assert (note.description, note.source) == ("in EUR", SchemaNote.Source.MANUAL)
    assert "Description of “orders.total” saved." in _messages(response)


def test_moving_a_description_onto_one_already_written_is_refused_on_the_page(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    kept = services.note_upsert(
        connection=connection, table_name="orders", description="One row per order"
    )
    moved = services.note_upsert(
        connection=connection,
        table_name="orders",
        column_name="total",
        description="in EUR",
    )

    response = alice_page.post(
        f"/knowledge/{connection.id}/notes/{moved.id}/edit/",
        {"table_name": "orders", "column_name": "", "description": "in EUR"},
    )

    assert response.status_code == 200
    assert "already has a description" in response.content.decode()
    kept.refresh_from_db()
    moved.refresh_from_db()
    assert kept.description == "One row per order"
    assert moved.column_name == "total"


def test_a_description_is_deleted_only_by_a_post(alice_page, alice, make_connection):
    connection = make_connection(alice, "sqlite")
    note = services.note_upsert(
        connection=connection, table_name="orders", description="One row per order"
    )
    url = f"/knowledge/{connection.id}/notes/{note.id}/delete/"

    assert "One row per order" in alice_page.get(url).content.decode()
    response = alice_page.post(url, follow=True)

    assert not SchemaNote.objects.exists()
    assert "Description of “orders” deleted." in _messages(response)


PREFILL = "/knowledge/{}/notes/prefill/"


@pytest.fixture
def commented_shop(shop):
    """PostgreSQL's shop with a comment on a table and a column, removed after."""
    statements = {
        "ON TABLE customers": "'People who ordered at least once'",
        "ON COLUMN orders.total": "'Gross amount in EUR'",
    }
    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
    ) as conn:
        for target, text in statements.items():
            conn.execute(f"COMMENT {target} IS {text}")
    yield
    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
    ) as conn:
        for target in statements:
            conn.execute(f"COMMENT {target} IS NULL")


def test_prefill_copies_the_databases_comments_and_keeps_written_descriptions(
    alice_page, alice, make_connection, commented_shop
):
    connection = make_connection(alice, "postgresql")
    services.note_upsert(
        connection=connection, table_name="customers", description="Our buyers"
    )

    response = alice_page.post(
        f"/knowledge/{connection.id}/notes/prefill/", follow=True
    )

    assert _messages(response) == [
        "Added 1 description(s) from the database's comments."
    ]
    notes = {
        (n.table_name, n.column_name): (n.description, n.source)
        for n in SchemaNote.objects.filter(connection=connection)
    }
    assert notes == {
        ("customers", ""): ("Our buyers", "manual"),
        ("orders", "total"): ("Gross amount in EUR", "database"),
    }
    again = alice_page.post(PREFILL.format(connection.id), follow=True)
    assert "Added no descriptions" in _messages(again)[0]


def test_prefill_of_a_database_that_cannot_be_reached_is_a_message(
    alice_page, alice, make_connection
):
    # Nothing listens on port 9 of this machine.
    connection = make_connection(alice, "postgresql", port=9)

    response = alice_page.post(
        f"/knowledge/{connection.id}/notes/prefill/", follow=True
    )

    assert response.status_code == 200
    [message] = _messages(response)
    assert message.startswith("The database's comments could not be read: ")
    assert not SchemaNote.objects.exists()


def test_prefill_of_sqlite_says_there_are_no_comments(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")

    response = alice_page.post(
        f"/knowledge/{connection.id}/notes/prefill/", follow=True
    )

    assert _messages(response) == ["SQLite keeps no comments: nothing to add."]


# ---------------------------------------------------------------------------
# Golden sets
# ---------------------------------------------------------------------------


def test_a_golden_set_is_deleted_with_its_questions_only_by_a_post(
    alice_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    imports.examples_import(
        connection=connection,
        text="question,sql\nHow many?,SELECT COUNT(*) FROM orders\n",
        set_name="smoke",
    )
    golden = GoldenSet.objects.get()
    url = f"/knowledge/{connection.id}/golden-sets/{golden.id}/delete/"

    confirm = alice_page.get(url).content.decode()
    assert "1 question(s)" in confirm
    assert GoldenSet.objects.exists()
    response = alice_page.post(url, follow=True)

    assert not GoldenSet.objects.exists()
    assert not GoldenQuestion.objects.exists()
    assert "Golden set “smoke” deleted." in _messages(response)


# ---------------------------------------------------------------------------
# Isolation: another user's connection or object is a 404, and stays as it was
# ---------------------------------------------------------------------------


@pytest.fixture
def alices_knowledge(alice, make_connection):
    connection = make_connection(alice, "sqlite")
    imports.examples_import(
        connection=connection,
        text="question,sql\nHow many?,SELECT COUNT(*) FROM orders\n",
        set_name="smoke",
    )
    return {
        "connection": connection,
        "instruction": services.instruction_create(
            connection=connection, text="amt: cents"
        ),
        "example": services.example_create(
            connection=connection, question="Count", sql="SELECT COUNT(*) FROM orders"
        ),
        "note": services.note_upsert(
            connection=connection, table_name="orders", description="One per order"
        ),
        "golden_set": GoldenSet.objects.get(connection=connection),
    }


def _snapshot(connection_id: int) -> tuple:
    """Everything of one connection's knowledge a change would show in."""
    mine = {"connection_id": connection_id}
    return (
        list(Instruction.objects.filter(**mine).values_list("id", "text")),
        list(
            Example.objects.filter(**mine).values_list(
                "id", "question", "sql", "checked_at"
            )
        ),
        list(
            SchemaNote.objects.filter(**mine).values_list(
                "id", "table_name", "column_name", "description"
            )
        ),
        list(GoldenSet.objects.filter(**mine).values_list("id", "name")),
        list(
            GoldenQuestion.objects.filter(
                golden_set__connection_id=connection_id
            ).values_list("id", "question", "sql")
        ),
    )


ROUTES = [
    ("GET", "instructions/{instruction}/edit/"),
    ("POST", "instructions/{instruction}/edit/"),
    ("GET", "instructions/{instruction}/delete/"),
    ("POST", "instructions/{instruction}/delete/"),
    ("GET", "examples/{example}/edit/"),
    ("POST", "examples/{example}/edit/"),
    ("GET", "examples/{example}/delete/"),
    ("POST", "examples/{example}/delete/"),
    ("POST", "examples/{example}/check/"),
    ("GET", "notes/{note}/edit/"),
    ("POST", "notes/{note}/edit/"),
    ("GET", "notes/{note}/delete/"),
    ("POST", "notes/{note}/delete/"),
    ("GET", "golden-sets/{golden_set}/delete/"),
    ("POST", "golden-sets/{golden_set}/delete/"),
    ("POST", "notes/prefill/"),
    ("GET", "import/"),
    ("POST", "import/"),
]
FORM = {
    "text": "bob was here",
    "question": "bob",
    "sql": "SELECT 1",
    "table_name": "bob",
    "description": "bob",
    "set": "bob",
}


@pytest.mark.parametrize(
    ("method", "route"), ROUTES, ids=[f"{m} {r}" for m, r in ROUTES]
)
def test_bob_gets_404_on_every_route_of_alices_knowledge_and_changes_nothing(
    bob_page, bob, make_connection, alices_knowledge, method, route
):
    ids = {name: obj.id for name, obj in alices_knowledge.items()}
    before = _snapshot(ids["connection"])
    # Alice's connection with her object, and Bob's own connection with her object.
    own = make_connection(bob, "sqlite")
    for connection_id in (ids["connection"], own.id):
        url = f"/knowledge/{connection_id}/" + route.format(**ids)
        data = {**FORM, "file": _upload("bob.csv", "question,sql\nbob,SELECT 1\n")}
        response = bob_page.get(url) if method == "GET" else bob_page.post(url, data)
        # Routes of a connection alone (import, prefill) are Bob's own on his.
        if connection_id == own.id and "{" not in route:
            continue
        assert response.status_code == 404, url

    assert _snapshot(ids["connection"]) == before
    # Each kind of object was there to be reached.
    assert all(before)


def test_a_golden_question_is_edited_on_its_page(
    alice_page, bob_page, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    golden = GoldenSet.objects.create(connection=connection, name="smoke")
    item = GoldenQuestion.objects.create(
        golden_set=golden, question="How many?", sql="SELECT COUNT(*) FROM orders"
    )
    url = f"/knowledge/{connection.id}/golden-questions/{item.id}/edit/"

    assert bob_page.get(url).status_code == 404
    refused = alice_page.post(url, {"question": "Wipe", "sql": "DELETE FROM orders"})
    saved = alice_page.post(
        url,
        {"question": "How many customers?", "sql": "SELECT COUNT(*) FROM customers"},
    )

    assert refused.status_code == 200
    assert "DELETE" in refused.text or "SELECT" in refused.text
    assert saved.status_code == 302
    assert saved["Location"].endswith(f"#golden-set-{golden.id}")
    item.refresh_from_db()
    assert item.question == "How many customers?"
    assert item.sql == "SELECT COUNT(*) FROM customers"
