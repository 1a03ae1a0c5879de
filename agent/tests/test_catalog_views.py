"""A view the role may not describe is an opaque view, not a failed ask."""

from __future__ import annotations

import contextlib
import json

import pytest

from testsupport.fixtures import TARGET_DB, shop_admin_run
from testsupport.llm_stub import StubReply, scripted_responder

VIEW = "reader_blind_v"


@pytest.fixture
def view_without_show_view(shop):
    """A MariaDB view the reader may select from but not describe (no SHOW VIEW)."""
    import MySQLdb

    create = f"CREATE VIEW {VIEW} AS SELECT id FROM customers"
    shop_admin_run("mysql", None, [f"DROP VIEW IF EXISTS {VIEW}", create])
    for host in ("localhost", "127.0.0.1", "%"):
        # MariaDB answers "no such grant" when the reader never had it.
        with contextlib.suppress(MySQLdb.OperationalError):
            revoke = (
                f"REVOKE SHOW VIEW ON `{TARGET_DB}`.* FROM 'sqlagent_reader'@'{host}'"
            )
            shop_admin_run("mysql", None, [revoke])
    yield VIEW
    shop_admin_run("mysql", None, [f"DROP VIEW IF EXISTS {VIEW}"])


def test_an_ask_on_a_database_with_a_view_the_role_cannot_describe_answers(
    alice, alice_client, make_connection, llm_stub, view_without_show_view
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("describe_tables", {"table_names": [VIEW]})]),
            StubReply(content="Done."),
        ]
    )
    connection = make_connection(alice, "mysql")
    assert (
        alice_client.post(f"/databases/connect_db/{connection.id}").status_code == 200
    )

    asked = alice_client.post("/ask", {"question": "What views?"}, format="json")

    assert asked.status_code == 200, asked.json()
    sent = "\n".join(json.dumps(body, ensure_ascii=False) for body in llm_stub.requests)
    assert f"View {VIEW}: its columns cannot be read" in sent
