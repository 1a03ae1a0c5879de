"""Each connection keeps a bounded knowledge: past a cap, a 400 and nothing added."""

from __future__ import annotations

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from knowledge import services
from knowledge.models import Example, Instruction, SchemaNote
from testsupport.fixtures import TARGET_DB

pytestmark = pytest.mark.django_db

COUNT_SQL = "SELECT COUNT(*) FROM orders"


def _examples(connection, n: int) -> None:
    for i in range(n):
        services.example_create(
            connection=connection, question=f"Question {i}", sql=COUNT_SQL
        )


def _jsonl(n: int, start: int = 0) -> str:
    return "".join(
        f'{{"question": "Imported {i}", "sql": "{COUNT_SQL}"}}\n'
        for i in range(start, start + n)
    )


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_an_example_past_the_cap_is_a_400_with_its_code(
    alice_client, alice, make_connection, settings
):
    settings.KNOWLEDGE_MAX_EXAMPLES = 2
    connection = make_connection(alice, "sqlite")
    _examples(connection, 2)

    response = alice_client.post(
        f"/databases/{connection.id}/knowledge/examples",
        {"question": "One more?", "sql": COUNT_SQL},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "detail": "This connection already has 2 verified examples, the most it "
        "may keep (2): delete some before adding more.",
        "code": "knowledge_limit_reached",
    }
    assert Example.objects.filter(connection=connection).count() == 2


def test_the_cap_counts_per_connection_and_frees_room_on_delete(
    alice_client, alice, make_connection, settings
):
    settings.KNOWLEDGE_MAX_EXAMPLES = 1
    full = make_connection(alice, "sqlite")
    other = make_connection(alice, "sqlite")
    _examples(full, 1)
    body = {"question": "Count?", "sql": COUNT_SQL}

    assert (
        alice_client.post(
            f"/databases/{other.id}/knowledge/examples", body, format="json"
        ).status_code
        == 201
    )
    base = f"/databases/{full.id}/knowledge/examples"
    assert alice_client.post(base, body, format="json").status_code == 400
    alice_client.delete(f"{base}/{Example.objects.get(connection=full).id}")
    assert alice_client.post(base, body, format="json").status_code == 201


def test_an_instruction_past_the_cap_is_a_400(
    alice_client, alice, make_connection, settings
):
    settings.KNOWLEDGE_MAX_INSTRUCTIONS = 1
    connection = make_connection(alice, "sqlite")
    base = f"/databases/{connection.id}/knowledge/instructions"
    assert (
        alice_client.post(base, {"text": "amt: cents"}, format="json").status_code
        == 201
    )

    response = alice_client.post(base, {"text": "dates are UTC"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "knowledge_limit_reached"
    assert "1 instructions" in response.json()["detail"]
    assert list(Instruction.objects.values_list("text", flat=True)) == ["amt: cents"]


def test_a_new_description_past_the_cap_is_a_400_but_one_is_still_replaced(
    alice_client, alice, make_connection, settings
):
    settings.KNOWLEDGE_MAX_DESCRIPTIONS = 1
    connection = make_connection(alice, "sqlite")
    base = f"/databases/{connection.id}/knowledge/notes"
    first = {"table_name": "orders", "description": "One row per order"}
    assert alice_client.post(base, first, format="json").status_code == 201

    refused = alice_client.post(
        base, {"table_name": "customers", "description": "Buyers"}, format="json"
    )
    replaced = alice_client.post(
        base, {"table_name": "orders", "description": "One per order"}, format="json"
    )

    assert refused.status_code == 400
    assert refused.json()["code"] == "knowledge_limit_reached"
    assert replaced.status_code == 201
    notes = SchemaNote.objects.filter(connection=connection)
    assert [(n.table_name, n.description) for n in notes] == [
        ("orders", "One per order")
    ]


@pytest.mark.parametrize(
    ("setting", "form"),
    [
        (
            "KNOWLEDGE_MAX_EXAMPLES",
            {"action": "example", "question": "Count?", "sql": COUNT_SQL},
        ),
        ("KNOWLEDGE_MAX_INSTRUCTIONS", {"action": "instruction", "text": "amt"}),
        (
            "KNOWLEDGE_MAX_DESCRIPTIONS",
            {"action": "note", "table_name": "orders", "description": "Orders"},
        ),
    ],
)
def test_the_page_forms_say_the_cap_is_reached_and_add_nothing(
    alice_page, alice, make_connection, settings, setting, form
):
    setattr(settings, setting, 0)
    connection = make_connection(alice, "sqlite")

    response = alice_page.post(f"/knowledge/{connection.id}/", form, follow=True)

    assert response.status_code == 200
    [message] = _messages(response)
    assert "the most it may keep (0): delete some before adding more." in message
    assert not Example.objects.exists()
    assert not Instruction.objects.exists()
    assert not SchemaNote.objects.exists()


def test_an_import_past_the_cap_is_refused_whole(
    alice_client, alice, make_connection, settings
):
    settings.KNOWLEDGE_MAX_EXAMPLES = 5
    connection = make_connection(alice, "sqlite")
    _examples(connection, 3)
    # Three good lines and a bad one: the good ones do not fit in the room left.
    text = _jsonl(3) + '{"question": "Wipe", "sql": "DELETE FROM orders"}\n'

    response = alice_client.post(
        f"/databases/{connection.id}/knowledge/import",
        {"file": SimpleUploadedFile("e.jsonl", text.encode())},
    )

    assert response.status_code == 400
    assert response.json() == {
        "detail": "This would add 3 verified examples, but this connection has room "
        "for 2 more (at most 5): nothing was added.",
        "code": "knowledge_limit_reached",
    }
    assert Example.objects.filter(connection=connection).count() == 3


def test_an_import_that_just_fits_is_saved_whole(
    alice_client, alice, make_connection, settings
):
    settings.KNOWLEDGE_MAX_EXAMPLES = 5
    connection = make_connection(alice, "sqlite")
    _examples(connection, 3)

    response = alice_client.post(
        f"/databases/{connection.id}/knowledge/import",
        {"file": SimpleUploadedFile("e.jsonl", _jsonl(2).encode())},
    )

    assert response.status_code == 200
    assert response.json() == {"created": 2, "errors": []}
    assert Example.objects.filter(connection=connection).count() == 5


def test_a_golden_set_import_is_not_held_to_the_examples_cap(
    alice_client, alice, make_connection, settings
):
    settings.KNOWLEDGE_MAX_EXAMPLES = 0
    connection = make_connection(alice, "sqlite")

    response = alice_client.post(
        f"/databases/{connection.id}/knowledge/import",
        {"file": SimpleUploadedFile("g.jsonl", _jsonl(3).encode()), "set": "gold"},
    )

    assert response.json() == {"created": 3, "errors": []}
    assert not Example.objects.exists()


def test_the_page_import_past_the_cap_is_a_message_and_imports_nothing(
    alice_page, alice, make_connection, settings
):
    settings.KNOWLEDGE_MAX_EXAMPLES = 2
    connection = make_connection(alice, "sqlite")

    response = alice_page.post(
        f"/knowledge/{connection.id}/import/",
        {"file": SimpleUploadedFile("e.jsonl", _jsonl(3).encode())},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == f"/knowledge/{connection.id}/"
    assert _messages(response) == [
        "This would add 3 verified examples, but this connection has room for 2 "
        "more (at most 2): nothing was added."
    ]
    assert not Example.objects.exists()


def test_the_import_command_past_the_cap_fails_and_imports_nothing(
    alice, make_connection, settings, tmp_path
):
    settings.KNOWLEDGE_MAX_EXAMPLES = 2
    connection = make_connection(alice, "sqlite")
    path = tmp_path / "e.jsonl"
    path.write_text(_jsonl(3))

    with pytest.raises(CommandError, match="room for 2 more"):
        call_command("import_examples", str(connection.id), str(path))

    assert not Example.objects.exists()


def test_saving_an_answer_as_an_example_past_the_cap_is_a_400(
    alice_client, alice, make_connection, llm_stub, settings
):
    connection = make_connection(alice, "sqlite")
    assert (
        alice_client.post(f"/databases/connect_db/{connection.id}").status_code == 200
    )
    turn = alice_client.post(
        "/ask", {"question": "How many customers?"}, format="json"
    ).json()
    settings.KNOWLEDGE_MAX_EXAMPLES = 0

    response = alice_client.post(
        f"/threads/{turn['thread_id']}/turns/{turn['turn_id']}/save-example"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "knowledge_limit_reached"
    assert not Example.objects.exists()


@pytest.fixture
def two_comments(shop):
    """Comments on two of PostgreSQL's shop columns, removed after."""
    targets = ["orders.total", "customers.email"]
    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
    ) as conn:
        for target in targets:
            conn.execute(f"COMMENT ON COLUMN {target} IS 'described'")
    yield
    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
    ) as conn:
        for target in targets:
            conn.execute(f"COMMENT ON COLUMN {target} IS NULL")


def test_a_prefill_past_the_cap_adds_none_of_the_comments(
    alice_client, alice, make_connection, settings, two_comments
):
    settings.KNOWLEDGE_MAX_DESCRIPTIONS = 2
    connection = make_connection(alice, "postgresql")
    services.note_upsert(connection=connection, table_name="orders", description="x")
    url = f"/databases/{connection.id}/knowledge/notes/prefill"

    refused = alice_client.post(url)
    settings.KNOWLEDGE_MAX_DESCRIPTIONS = 3
    added = alice_client.post(url)

    assert refused.status_code == 400
    assert refused.json()["code"] == "knowledge_limit_reached"
    assert "would add 2 descriptions" in refused.json()["detail"]
    assert added.json() == {"added": 2}
    assert SchemaNote.objects.filter(connection=connection).count() == 3


@pytest.mark.django_db(transaction=True)
def test_additions_at_the_same_time_cannot_both_take_the_last_place(
    alice, make_connection, settings
):
    import threading

    from django.db import connections

    from knowledge.exceptions import KnowledgeLimitReached

    settings.KNOWLEDGE_MAX_EXAMPLES = 5
    connection = make_connection(alice, "sqlite")
    _examples(connection, 4)
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def add(i: int) -> None:
        try:
            start.wait()
            services.example_create(
                connection=connection, question=f"Racing {i}", sql=COUNT_SQL
            )
            outcomes.append("added")
        except KnowledgeLimitReached:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["added"] + ["refused"] * 5
    assert Example.objects.filter(connection=connection).count() == 5


def test_the_admin_holds_an_addition_to_the_cap_too(
    admin_client, alice, make_connection, settings
):
    settings.KNOWLEDGE_MAX_INSTRUCTIONS = 1
    connection = make_connection(alice, "sqlite")
    services.instruction_create(connection=connection, text="amt: cents")

    response = admin_client.post(
        "/admin/knowledge/instruction/add/",
        {"connection": connection.id, "text": "dates are UTC"},
    )

    assert response.status_code == 200
    assert "the most it may keep (1)" in response.content.decode()
    assert list(Instruction.objects.values_list("text", flat=True)) == ["amt: cents"]
