"""Knowledge CRUD over the API: owner-scoped, example SQL guarded, imports per line."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from knowledge.models import Example, GoldenSet, Instruction

pytestmark = pytest.mark.django_db


def test_an_instruction_is_added_listed_changed_and_deleted(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    base = f"/databases/{connection.id}/knowledge/instructions"

    created = alice_client.post(base, {"text": "amt is in cents"}, format="json")
    assert created.status_code == 201
    item = created.json()["id"]
    assert alice_client.get(base).json()[0]["text"] == "amt is in cents"
    patched = alice_client.patch(
        f"{base}/{item}", {"text": "amt: cents"}, format="json"
    )
    assert patched.json()["text"] == "amt: cents"
    assert alice_client.delete(f"{base}/{item}").status_code == 204
    assert not Instruction.objects.exists()


def test_a_table_description_is_saved_once_per_table_and_column(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    base = f"/databases/{connection.id}/knowledge/notes"
    body = {"table_name": "orders", "column_name": "total", "description": "in EUR"}
    assert alice_client.post(base, body, format="json").status_code == 201
    body["description"] = "in euros, tax included"
    assert alice_client.post(base, body, format="json").status_code == 201
    notes = alice_client.get(base).json()
    assert [n["description"] for n in notes] == ["in euros, tax included"]


def test_an_example_with_write_sql_is_refused_with_the_reason(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "postgresql")
    response = alice_client.post(
        f"/databases/{connection.id}/knowledge/examples",
        {"question": "Remove customers", "sql": "DELETE FROM customers"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "example_sql_refused"
    assert not Example.objects.exists()


def test_an_example_without_sql_is_a_400(alice_client, alice, make_connection):
    connection = make_connection(alice, "sqlite")
    response = alice_client.post(
        f"/databases/{connection.id}/knowledge/examples",
        {"question": "How many?"},
        format="json",
    )
    assert response.status_code == 400
    assert "sql" in response.json()


@pytest.mark.parametrize("db_type", ["postgresql", "mysql", "sqlite"])
def test_an_example_is_re_run_to_show_it_still_works(
    alice_client, alice, make_connection, db_type
):
    connection = make_connection(alice, db_type)
    base = f"/databases/{connection.id}/knowledge/examples"
    good = alice_client.post(
        base,
        {"question": "How many customers?", "sql": "SELECT COUNT(*) FROM customers"},
        format="json",
    ).json()
    stale = alice_client.post(
        base,
        {"question": "Old table", "sql": "SELECT * FROM clients"},
        format="json",
    ).json()

    checked = alice_client.post(f"{base}/{good['id']}/check").json()
    failed = alice_client.post(f"{base}/{stale['id']}/check").json()

    assert checked["last_check_ok"] is True
    assert checked["checked_at"]
    assert failed["last_check_ok"] is False
    assert "clients" in failed["last_check_error"]


def test_knowledge_of_another_users_connection_is_a_404(
    alice_client, bob, make_connection
):
    connection = make_connection(bob, "sqlite")
    example = Example.objects.create(
        connection=connection, question="q", sql="SELECT 1"
    )
    base = f"/databases/{connection.id}/knowledge"
    assert alice_client.get(f"{base}/examples").status_code == 404
    assert alice_client.get(f"{base}/instructions").status_code == 404
    assert alice_client.get(f"{base}/notes").status_code == 404
    assert alice_client.get(f"{base}/examples/{example.id}").status_code == 404
    assert alice_client.delete(f"{base}/examples/{example.id}").status_code == 404
    assert (
        alice_client.get(f"/databases/{connection.id}/evaluations").status_code == 404
    )
    assert Example.objects.filter(pk=example.pk).exists()


def test_knowledge_needs_authentication(anon_client, alice, make_connection):
    connection = make_connection(alice, "sqlite")
    response = anon_client.get(f"/databases/{connection.id}/knowledge/examples")
    assert response.status_code == 401


def test_an_import_keeps_the_good_lines_and_reports_each_bad_one(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    text = (
        '{"question": "How many customers?", "sql": "SELECT COUNT(*) FROM customers"}\n'
        "not json\n"
        '{"question": "Drop it", "sql": "DROP TABLE customers"}\n'
        '{"question": "No SQL"}\n'
        '{"question": "Orders?", "query": "SELECT * FROM orders"}\n'
    )
    upload = SimpleUploadedFile("examples.jsonl", text.encode())

    response = alice_client.post(
        f"/databases/{connection.id}/knowledge/import", {"file": upload}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["created"] == 2
    assert [e["line"] for e in body["errors"]] == [2, 3, 4]
    assert "missing sql" in body["errors"][2]["error"]
    questions = list(Example.objects.values_list("question", flat=True))
    assert questions == ["How many customers?", "Orders?"]


def test_the_import_command_reads_a_spider_style_file_into_a_golden_set(
    alice, make_connection, tmp_path, capsys
):
    from django.core.management import call_command

    connection = make_connection(alice, "sqlite")
    path = tmp_path / "dev.json"
    path.write_text(
        '[{"db_id": "shop", "question": "How many customers?", '
        '"query": "SELECT count(*) FROM customers"}, {"question": "bad"}]'
    )

    call_command("import_examples", str(connection.id), str(path), "--set", "spider")

    golden = GoldenSet.objects.get(connection=connection, name="spider")
    assert golden.questions.count() == 1
    captured = capsys.readouterr()
    assert "line 2: missing sql" in captured.err
    assert "Imported 1" in captured.out


def test_the_import_command_maps_columns_of_a_csv(alice, make_connection, tmp_path):
    from django.core.management import call_command

    connection = make_connection(alice, "sqlite")
    path = tmp_path / "defog.csv"
    path.write_text(
        'nl_question,gold,extra\n"How many orders?","SELECT COUNT(*) FROM orders",x\n'
    )

    call_command(
        "import_examples",
        str(connection.id),
        str(path),
        "--map",
        "nl_question=question",
        "--map",
        "gold=sql",
    )

    assert Example.objects.get().sql == "SELECT COUNT(*) FROM orders"


def test_moving_a_description_onto_one_already_written_is_a_400(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "sqlite")
    base = f"/databases/{connection.id}/knowledge/notes"
    alice_client.post(
        base, {"table_name": "orders", "description": "One per order"}, format="json"
    )
    moved = alice_client.post(
        base,
        {"table_name": "orders", "column_name": "total", "description": "in EUR"},
        format="json",
    ).json()

    response = alice_client.patch(
        f"{base}/{moved['id']}", {"column_name": ""}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "note_target_taken"
    descriptions = sorted(n["description"] for n in alice_client.get(base).json())
    assert descriptions == ["One per order", "in EUR"]


def test_prefill_of_a_database_that_cannot_be_reached_is_a_502_with_the_reason(
    alice_client, alice, make_connection
):
    # Nothing listens on port 9 of this machine.
    connection = make_connection(alice, "postgresql", port=9)

    response = alice_client.post(f"/databases/{connection.id}/knowledge/notes/prefill")

    assert response.status_code == 502
    assert response.json()["code"] == "database_unavailable"
    assert response.json()["detail"].startswith(
        "The database's comments could not be read: "
    )
