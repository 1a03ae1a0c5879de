"""Regression tests for the third red team's privacy findings (issue 19, item 3):
view samples judged by a view's column name, row counts that spell masked
values, and database errors that quote them. Each payload runs on every engine
it applies to; the canaries are the stored emails (and their character codes),
searched in every request the stub model received and in every MCP response.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent.models import Turn
from agent.privacy import COMPUTED_MASK, TOKEN_PREFIX
from testsupport.fixtures import (
    CUSTOMERS,
    ENGINES,
    TARGET_DB,
    shop_admin_run,
)
from testsupport.llm_stub import StubReply, scripted_responder
from testsupport.mcp import mcp_tool_call

pytestmark = pytest.mark.django_db

EMAILS = [row[3] for row in CUSTOMERS]
# What a value spelled as character codes looks like in a result row sent as
# JSON: [customer id, position, code].
CODE_ROWS = [
    json.dumps([cid, pos + 1, ord(ch)])
    for cid, _, _, email in CUSTOMERS
    for pos, ch in enumerate(email)
]


def _sent_to_llm(llm_stub: Any) -> str:
    return "\n".join(json.dumps(body, ensure_ascii=False) for body in llm_stub.requests)


def _leaks(text: str, values: list[str]) -> list[str]:
    return [value for value in values if value in text]


def _connect(client: Any, connection: Any) -> None:
    response = client.post(f"/databases/connect_db/{connection.id}")
    assert response.status_code == 200


def _mcp(token: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return mcp_tool_call(token, tool, arguments)


@pytest.fixture
def shop_view(shop, sqlite_dir) -> Iterator[Callable[[str, str, str], None]]:
    """Create views on the shop for one test, dropped after it."""
    made: list[tuple[str, str]] = []

    def create(db_type: str, name: str, select: str) -> None:
        statements = [f"DROP VIEW IF EXISTS {name}", f"CREATE VIEW {name} AS {select}"]
        if db_type == "postgresql":
            statements.append(f"GRANT SELECT ON {name} TO sqlagent_reader")
        if db_type == "mysql":
            # As the README grants the reader: MariaDB describes a view (and
            # shows its definition) only with SHOW VIEW.
            statements += _reader_grants("GRANT SHOW VIEW ON {db}.* TO {user}")
        shop_admin_run(db_type, sqlite_dir, statements)
        made.append((db_type, name))

    yield create
    for db_type, name in made:
        revoke = []
        if db_type == "mysql":
            revoke = _reader_grants("REVOKE SHOW VIEW ON {db}.* FROM {user}")
        shop_admin_run(db_type, sqlite_dir, [f"DROP VIEW IF EXISTS {name}", *revoke])


def _reader_grants(template: str) -> list[str]:
    return [
        template.format(db=f"`{TARGET_DB}`", user=f"'sqlagent_reader'@'{host}'")
        for host in ("localhost", "127.0.0.1", "%")
    ]


# -- a. View samples ---------------------------------------------------------

CONTACTS_VIEW = "SELECT id, name, email AS contact FROM customers"


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_view_renaming_a_masked_column_gives_its_samples_to_no_model(
    alice_client, alice, make_connection, llm_stub, shop_view, db_type
):
    from accounts.services import token_create

    shop_view(db_type, "contacts_v", CONTACTS_VIEW)
    llm_stub.responder = scripted_responder(
        [
            StubReply(
                tool_calls=[("describe_tables", {"table_names": ["contacts_v"]})]
            ),
            StubReply(content="Done."),
        ]
    )
    connection = make_connection(alice, db_type, masked_columns=["customers.email"])
    assert (
        alice_client.post(f"/databases/connect_db/{connection.id}").status_code == 200
    )
    token = token_create(owner=alice, name="claude", scope="ask").value

    asked = alice_client.post("/ask", {"question": "Our contacts?"}, format="json")
    described = _mcp(token, "describe_schema", {"table_names": ["contacts_v"]})

    assert asked.status_code == 200, asked.json()
    sent = _sent_to_llm(llm_stub)
    mcp_text = json.dumps(described, ensure_ascii=False)
    # The system prompt describes the whole (small) schema, the view included.
    assert "Table contacts_v" in sent
    assert "Table contacts_v" in mcp_text
    for text in (sent, mcp_text):
        assert _leaks(text, EMAILS) == []
        assert "@example.com" not in text
    # The view's other columns trace to unmasked columns: still sampled.
    assert "'Ada Lovelace'" in mcp_text


def test_a_view_that_cannot_be_traced_gets_no_samples(
    alice, connected_session, shop_view
):
    from accounts.services import token_create

    # query_to_xml reads SQL held in a string: nothing of it can be traced.
    shop_view(
        "postgresql",
        "opaque_v",
        "SELECT id, name, query_to_xml('SELECT 1', true, false, '')::text AS x "
        "FROM customers",
    )
    connected_session(alice, "postgresql", masked_columns=["customers.email"])
    token = token_create(owner=alice, name="claude", scope="ask").value

    described = _mcp(token, "describe_schema", {"table_names": ["opaque_v"]})

    text = described["structuredContent"]["description"]
    assert "Table opaque_v" in text
    assert "e.g." not in text


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_view_whose_rows_a_masked_column_chooses_gets_no_samples(
    alice, connected_session, shop_view, db_type
):
    from accounts.services import token_create

    shop_view(db_type, "a_names_v", "SELECT name FROM customers WHERE email LIKE 'a%'")
    connected_session(alice, db_type, masked_columns=["customers.email"])
    token = token_create(owner=alice, name="claude", scope="ask").value

    described = _mcp(token, "describe_schema", {"table_names": ["a_names_v"]})

    text = described["structuredContent"]["description"]
    assert "Table a_names_v" in text
    assert "Lovelace" not in text


# -- b. Row counts that spell values -----------------------------------------

COUNT_PAYLOADS = {
    "postgresql": [
        "SELECT c.id, p.p, COUNT(*) AS n FROM customers c, "
        "generate_series(1, length(c.email)) p(p), "
        "generate_series(1, ascii(substr(c.email, p.p, 1))) g "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        # The same rows without an aggregate: their number per group is the code.
        "SELECT c.id, p.p FROM customers c, "
        "generate_series(1, length(c.email)) p(p), "
        "generate_series(1, ascii(substr(c.email, p.p, 1))) g ORDER BY 1, 2",
        "SELECT n FROM (SELECT c.id, p.p, COUNT(*) AS n FROM customers c, "
        "generate_series(1, length(c.email)) p(p), "
        "generate_series(1, ascii(substr(c.email, p.p, 1))) g "
        "GROUP BY 1, 2 ORDER BY 1, 2) AS s",
    ],
    "mysql": [
        "SELECT c.id, p.seq AS p, COUNT(*) AS n FROM customers c "
        "JOIN seq_1_to_100 p ON p.seq <= length(c.email) "
        "JOIN seq_1_to_255 g ON g.seq <= ascii(substr(c.email, p.seq, 1)) "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s "
        "WHERE i < 255) SELECT c.id, p.i AS p, COUNT(*) AS n FROM customers c "
        "JOIN s p ON p.i <= length(c.email) "
        "JOIN s g ON g.i <= ascii(substr(c.email, p.i, 1)) "
        "GROUP BY c.id, p.i ORDER BY 1, 2",
    ],
    "sqlite": [
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s "
        "WHERE i < 255) SELECT c.id, p.i AS p, COUNT(*) AS n FROM customers c "
        "JOIN s p ON p.i <= length(c.email) "
        "JOIN s g ON g.i <= unicode(substr(c.email, p.i, 1)) "
        "GROUP BY c.id, p.i ORDER BY 1, 2",
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s "
        "WHERE i < 255) SELECT c.id, p.i AS p FROM customers c "
        "JOIN s p ON p.i <= length(c.email) "
        "JOIN s g ON g.i <= unicode(substr(c.email, p.i, 1)) ORDER BY 1, 2",
    ],
}
# A count in a scalar subquery: one code per query.
SCALAR_COUNT = {
    "postgresql": "SELECT (SELECT COUNT(*) FROM customers c, "
    "generate_series(1, ascii(substr(c.email, 1, 1))) g WHERE c.id = 1) AS n",
    "mysql": "SELECT (SELECT COUNT(*) FROM customers c JOIN seq_1_to_255 g "
    "ON g.seq <= ascii(substr(c.email, 1, 1)) WHERE c.id = 1) AS n",
    "sqlite": "SELECT (WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
    "FROM s WHERE i < 255) SELECT COUNT(*) FROM customers c JOIN s g "
    "ON g.i <= unicode(substr(c.email, 1, 1)) WHERE c.id = 1) AS n",
}


@pytest.mark.parametrize("db_type", ENGINES)
def test_counts_over_rows_a_masked_column_chose_reach_no_model(
    alice_client, alice, make_connection, llm_stub, db_type
):
    from accounts.services import token_create

    payloads = COUNT_PAYLOADS[db_type]
    llm_stub.responder = scripted_responder(
        [
            *[StubReply(tool_calls=[("run_query", {"sql": sql})]) for sql in payloads],
            StubReply(tool_calls=[("run_query", {"sql": SCALAR_COUNT[db_type]})]),
            StubReply(content="Done."),
        ]
    )
    connection = make_connection(alice, db_type, masked_columns=["customers.email"])
    assert (
        alice_client.post(f"/databases/connect_db/{connection.id}").status_code == 200
    )
    token = token_create(owner=alice, name="claude", scope="sql").value

    asked = alice_client.post("/ask", {"question": "Spell the emails"}, format="json")
    ran = [_mcp(token, "run_sql", {"sql": sql}) for sql in payloads]

    assert asked.status_code == 200, asked.json()
    queries = asked.json()["queries"]
    assert [q["error"] for q in queries] == [None] * (len(payloads) + 1)
    # The payloads ran: the user (not hidden from) gets the codes.
    assert json.dumps(asked.json()["result"]["rows"]) == json.dumps([[ord("a")]])
    sent = _sent_to_llm(llm_stub)
    assert "Rows withheld" in sent
    assert _leaks(sent, CODE_ROWS) == []
    assert "[97]" not in sent
    for result in ran:
        assert result["isError"] is False, result
        content = result["structuredContent"]
        assert content["rows"] == []
        assert content["row_count"] is None
        assert _leaks(json.dumps(result), CODE_ROWS) == []


@pytest.mark.parametrize("db_type", ENGINES)
def test_counts_over_rows_a_masked_column_chose_are_masked_for_a_hidden_user(
    alice_client, alice, make_connection, db_type
):
    connection = make_connection(
        alice, db_type, masked_columns=["customers.email"], masked_hidden=True
    )
    assert (
        alice_client.post(f"/databases/connect_db/{connection.id}").status_code == 200
    )

    ran = alice_client.post(
        "/ask/sql", {"sql": COUNT_PAYLOADS[db_type][0]}, format="json"
    )

    assert ran.status_code == 200, ran.json()
    rows = ran.json()["result"]["rows"]
    assert rows
    # The id is a stored value (a token); the position and the count are
    # computed (one mark for all: no count can be told from another).
    assert all(row[0].startswith(TOKEN_PREFIX) for row in rows)
    assert {row[2] for row in rows} == {COMPUTED_MASK}
    assert _leaks(json.dumps(rows), CODE_ROWS) == []


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_schema_tier_model_learns_no_count_a_value_decides(
    alice_client, alice, make_connection, llm_stub, db_type
):
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("run_query", {"sql": SCALAR_COUNT[db_type]})]),
            StubReply(tool_calls=[("run_query", {"sql": COUNT_PAYLOADS[db_type][-1]})]),
            StubReply(
                tool_calls=[("run_query", {"sql": "SELECT name FROM customers"})]
            ),
            StubReply(content="Done."),
        ]
    )
    connection = make_connection(alice, db_type, privacy="schema")
    assert (
        alice_client.post(f"/databases/connect_db/{connection.id}").status_code == 200
    )

    asked = alice_client.post("/ask", {"question": "Spell the emails"}, format="json")

    assert asked.status_code == 200, asked.json()
    tool_results = [
        m["content"]
        for m in llm_stub.requests[-1]["messages"]
        if m.get("role") == "tool"
    ]
    assert len(tool_results) == 3
    # A count of rows only a value decides is withheld; a table's size is not.
    assert "row(s)" not in tool_results[1]
    assert tool_results[2].startswith("6 row(s)")
    assert _leaks(_sent_to_llm(llm_stub), CODE_ROWS) == []


# -- c, d. Database errors that quote values ---------------------------------

# Per engine: payloads whose error text carries a stored value or part of one
# (PostgreSQL), or at least reads a masked column (MariaDB and SQLite quote no
# stored value in their errors; the rule is the same), and the code the model
# gets instead of the text.
ERROR_PAYLOADS = {
    "postgresql": [
        ("SELECT string_agg(email, ',')::int FROM customers", "SQLSTATE 22P02"),
        # Over 500 characters: the driver's text is cut before its closing quote.
        (
            "SELECT repeat(string_agg(email, ','), 10)::int FROM customers",
            "SQLSTATE 22P02",
        ),
        # The CONTEXT line repeats the value unquoted.
        ("SELECT email::json FROM customers", "SQLSTATE 22P02"),
        # One character as the name of a setting.
        ("SELECT current_setting(substr(email, 1, 1)) FROM customers", "42704"),
    ],
    "mysql": [
        ("SELECT ~0 + ascii(email) AS n FROM customers", "error 1690"),
        (
            "SELECT name FROM customers WHERE email = (SELECT email FROM customers)",
            "error 1242",
        ),
    ],
    "sqlite": [
        ("SELECT json(email) FROM customers", "SQLITE_ERROR"),
    ],
}
# What the database's own text says, which must not pass.
ERROR_TEXTS = [
    *EMAILS,
    "ada...",
    '"a"',
    "BIGINT UNSIGNED",
    "Subquery returns",
    "malformed JSON",
]


def _error_cases(db_type: str) -> list[tuple[str, str]]:
    return ERROR_PAYLOADS[db_type]


@pytest.mark.parametrize("db_type", ENGINES)
@pytest.mark.parametrize(
    "privacy", [{"privacy": "schema"}, {"masked_columns": ["customers.email"]}]
)
def test_an_error_of_a_restricted_query_reaches_model_and_mcp_as_its_code(
    alice_client, alice, make_connection, llm_stub, db_type, privacy
):
    from accounts.services import token_create

    cases = _error_cases(db_type)
    llm_stub.responder = scripted_responder(
        [
            *[StubReply(tool_calls=[("run_query", {"sql": sql})]) for sql, _ in cases],
            StubReply(content="Done."),
        ]
    )
    connection = make_connection(alice, db_type, **privacy)
    assert (
        alice_client.post(f"/databases/connect_db/{connection.id}").status_code == 200
    )
    token = token_create(owner=alice, name="claude", scope="sql").value

    asked = alice_client.post("/ask", {"question": "Break it"}, format="json")
    ran = [_mcp(token, "run_sql", {"sql": sql}) for sql, _ in cases]

    assert asked.status_code == 200, asked.json()
    tool_results = [
        m["content"]
        for m in llm_stub.requests[-1]["messages"]
        if m.get("role") == "tool"
    ]
    assert len(tool_results) == len(cases)
    for shown, (_, code) in zip(tool_results, cases, strict=True):
        assert shown.startswith("Error: The database failed the query (")
        assert code in shown
    assert _leaks(_sent_to_llm(llm_stub), ERROR_TEXTS) == []
    for result, (_, code) in zip(ran, cases, strict=True):
        assert result["isError"] is True
        text = json.dumps(result, ensure_ascii=False)
        assert code in text
        assert _leaks(text, ERROR_TEXTS) == []
    # The user, from whom nothing is hidden, reads the database's own text.
    errors = " ".join(q["error"] for q in asked.json()["queries"])
    assert _leaks(errors, ERROR_TEXTS)


@pytest.mark.parametrize("db_type", ENGINES)
def test_an_error_of_a_query_reading_no_masked_column_keeps_its_text(
    alice_client, alice, make_connection, llm_stub, db_type
):
    sql = {
        "postgresql": "SELECT name::int FROM customers",
        "mysql": "SELECT ~0 + ascii(name) AS n FROM customers",
        "sqlite": "SELECT json(name) FROM customers",
    }[db_type]
    llm_stub.responder = scripted_responder(
        [StubReply(tool_calls=[("run_query", {"sql": sql})]), StubReply(content="x")]
    )
    connection = make_connection(alice, db_type, masked_columns=["customers.email"])
    assert (
        alice_client.post(f"/databases/connect_db/{connection.id}").status_code == 200
    )

    asked = alice_client.post("/ask", {"question": "Break it"}, format="json")

    assert asked.status_code == 200, asked.json()
    tool = [m for m in llm_stub.requests[-1]["messages"] if m.get("role") == "tool"]
    assert "The database failed the query" not in tool[0]["content"]
    assert tool[0]["content"] == "Error: " + asked.json()["queries"][0]["error"]


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_masked_hidden_user_reads_an_errors_code_not_its_text(
    alice_client, alice, make_connection, llm_stub, db_type
):
    cases = _error_cases(db_type)
    llm_stub.responder = scripted_responder(
        [
            *[StubReply(tool_calls=[("run_query", {"sql": sql})]) for sql, _ in cases],
            StubReply(content="Done."),
        ]
    )
    connection = make_connection(
        alice, db_type, masked_columns=["customers.email"], masked_hidden=True
    )
    assert (
        alice_client.post(f"/databases/connect_db/{connection.id}").status_code == 200
    )

    asked = alice_client.post("/ask", {"question": "Break it"}, format="json")
    own = [
        alice_client.post("/ask/sql", {"sql": sql}, format="json") for sql, _ in cases
    ]

    assert asked.status_code == 200, asked.json()
    errors = [q["error"] for q in asked.json()["queries"]]
    for error, (_, code) in zip(errors, cases, strict=True):
        assert code in error
    for response, (_, code) in zip(own, cases, strict=True):
        assert response.status_code == 400
        assert code in response.json()["detail"]
    stored = json.dumps([t.queries for t in Turn.objects.all()], ensure_ascii=False)
    for text in (json.dumps(asked.json()), *(r.content.decode() for r in own), stored):
        assert _leaks(text, ERROR_TEXTS) == []
    assert _leaks(_sent_to_llm(llm_stub), ERROR_TEXTS) == []


# -- the rule, on more shapes --------------------------------------------------


@pytest.fixture
def tools_for(alice, make_connection):
    """Return a ToolContext over the shop with the given privacy settings."""
    from agent.catalog import SchemaCatalog
    from agent.llm.tools import ToolContext
    from agent.privacy import PrivacyPolicy
    from connections.engines import engine_create

    engines = []

    def build(db_type: str, **privacy: Any) -> Any:
        connection = make_connection(alice, db_type, **privacy)
        engine = engine_create(connection)
        engines.append(engine)
        policy = PrivacyPolicy.for_connection(connection)
        catalog = SchemaCatalog(engine, db_type, privacy=policy)
        return ToolContext(engine=engine, db_type=db_type, catalog=catalog)

    yield build
    for engine in engines:
        engine.dispose()


ROWS_CHOSEN_BY_A_MASKED_COLUMN = [
    "SELECT name FROM customers ORDER BY email",
    "SELECT name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o "
    "WHERE o.customer_id = c.id AND c.email LIKE 'a%')",
    "SELECT DISTINCT substr(email, 1, 1) AS c FROM customers",
    "SELECT name FROM customers UNION SELECT email FROM customers",
    "SELECT s.name FROM (SELECT name, email FROM customers WHERE email > 'c') AS s",
    "WITH a AS (SELECT id FROM customers WHERE email LIKE 'a%') "
    "SELECT c.name FROM customers c JOIN a ON a.id = c.id",
    "SELECT country, COUNT(*) AS n FROM customers GROUP BY country, email",
    "SELECT name FROM customers WHERE id IN "
    "(SELECT id FROM customers WHERE email < 'c')",
    "SELECT name FROM customers ORDER BY id LIMIT 1",  # control: not chosen
]


@pytest.mark.parametrize("db_type", ENGINES)
@pytest.mark.parametrize("sql", ROWS_CHOSEN_BY_A_MASKED_COLUMN)
def test_rows_a_masked_column_chooses_are_withheld_from_the_model(
    tools_for, db_type, sql
):
    from agent.llm.tools import run_query

    context = tools_for(db_type, masked_columns=["customers.email"])

    shown = run_query(context, sql)

    assert context.last_result.row_count > 0
    if "email" in sql:
        assert shown.startswith("Columns: ")
        assert "Rows withheld" in shown
        assert "row(s)" not in shown
        assert _leaks(shown, [n for _, n, _, _ in CUSTOMERS]) == []
    else:
        assert shown.startswith("1 row(s)")
        assert "Ada Lovelace" in shown


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_column_computed_over_masked_rows_shows_one_mark(tools_for, db_type):
    from agent.llm.tools import run_query

    context = tools_for(db_type, masked_columns=["customers.email"])

    shown = run_query(
        context,
        "SELECT name, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id "
        "AND c.email LIKE 'a%') AS n, ROW_NUMBER() OVER (ORDER BY c.email) AS r "
        "FROM customers c ORDER BY c.id",
    )

    assert shown.startswith("6 row(s)")
    assert f'["Ada Lovelace", "{COMPUTED_MASK}", "{COMPUTED_MASK}"]' in shown
