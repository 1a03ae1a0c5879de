"""The privacy policy over real databases: which result columns carry masked
values (traced through what the query resolves to), what the model reads of a
result, a sample, an error and an earlier turn."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from agent.catalog import SchemaCatalog
from agent.llm.prompt import HistoryTurn, history_messages, system_prompt
from agent.llm.tools import ToolContext, describe_tables, run_query
from agent.privacy import COMPUTED_MASK, TOKEN_PREFIX, PrivacyPolicy
from connections.engines import engine_create
from testsupport.fixtures import CUSTOMERS, ENGINES, SQLITE_FILE, TARGET_DB

pytestmark = pytest.mark.django_db

CANARY = CUSTOMERS[0][3]  # ada@example.com
EMAILS = [row[3] for row in CUSTOMERS]


@pytest.fixture
def tools_for(alice, make_connection):
    """Return a ToolContext over the shop with the given privacy settings."""
    engines = []

    def build(db_type: str, **privacy: Any) -> ToolContext:
        connection = make_connection(alice, db_type, **privacy)
        engine = engine_create(connection)
        engines.append(engine)
        policy = PrivacyPolicy.for_connection(connection)
        catalog = SchemaCatalog(engine, db_type, privacy=policy)
        return ToolContext(engine=engine, db_type=db_type, catalog=catalog)

    yield build
    for engine in engines:
        engine.dispose()


# Stored values as stored: a token per value (equal values, equal tokens).
MASKED_QUERIES = [
    "SELECT email FROM customers ORDER BY id",
    "SELECT email AS e FROM customers ORDER BY id",
    "SELECT e FROM (SELECT id, email AS e FROM customers) AS s ORDER BY id",
    "WITH c AS (SELECT id, email FROM customers) SELECT c.email FROM c ORDER BY c.id",
    "SELECT c.email FROM customers AS c JOIN orders AS o ON o.customer_id = c.id",
    "SELECT name FROM customers UNION ALL SELECT email FROM customers",
]
# Values computed from masked ones: one mark, so that no text the query
# chooses can be given a token to compare with.
COMPUTED_QUERIES = [
    "SELECT lower(email) AS e FROM customers ORDER BY id",
    "SELECT COALESCE(email, 'none') AS e FROM customers ORDER BY id",
    "SELECT CASE WHEN id > 0 THEN email END AS e FROM customers ORDER BY id",
    "SELECT (SELECT MAX(email) FROM customers) AS m",
    "SELECT substr(email, 1, 1) AS c FROM customers ORDER BY id",
    "SELECT email AS e FROM customers UNION ALL SELECT 'ada@example.com'",
]


@pytest.mark.parametrize("db_type", ENGINES)
@pytest.mark.parametrize("sql", MASKED_QUERIES)
def test_a_masked_columns_values_reach_the_model_only_as_tokens(
    tools_for, db_type, sql
):
    context = tools_for(db_type, masked_columns=["*email*"])

    shown = run_query(context, sql)

    assert "row(s)" in shown
    assert "@example.com" not in shown
    assert TOKEN_PREFIX in shown


@pytest.mark.parametrize("db_type", ENGINES)
@pytest.mark.parametrize("sql", COMPUTED_QUERIES)
def test_values_computed_from_a_masked_column_reach_the_model_as_one_mark(
    tools_for, db_type, sql
):
    context = tools_for(db_type, masked_columns=["*email*"])

    shown = run_query(context, sql)

    assert "row(s)" in shown
    assert "@example.com" not in shown
    assert COMPUTED_MASK in shown
    assert TOKEN_PREFIX not in shown


@pytest.mark.parametrize("db_type", ENGINES)
def test_no_chosen_text_gets_a_token_to_decode_a_masked_one_with(tools_for, db_type):
    context = tools_for(db_type, masked_columns=["customers.email"])
    glue = "CONCAT('a', {})" if db_type == "mysql" else "'a' || {}"

    first = run_query(context, "SELECT substr(email, 1, 1) AS c FROM customers")
    guess = run_query(
        context,
        "SELECT " + glue.format("substr(email, 1, 0)") + " AS c FROM customers",
    )

    # Ada's email starts with "a": equal tokens would have said so.
    for shown in (first, guess):
        assert TOKEN_PREFIX not in shown
        assert '["a"]' not in shown
        assert COMPUTED_MASK in shown


@pytest.mark.parametrize("db_type", ENGINES)
def test_select_star_masks_only_the_masked_column(tools_for, db_type):
    context = tools_for(db_type, masked_columns=["customers.email"])

    shown = run_query(context, "SELECT * FROM customers ORDER BY id")

    assert "Ada Lovelace" in shown
    assert "Germany" in shown
    assert CANARY not in shown
    assert context.last_masked == frozenset({3})
    # The user still gets the real rows unless the connection hides them.
    assert context.last_result.rows[0][3] == CANARY


@pytest.mark.parametrize("db_type", ENGINES)
def test_equal_values_get_equal_tokens_so_grouping_still_reads(tools_for, db_type):
    context = tools_for(db_type, masked_columns=["country"])

    run_query(context, "SELECT country FROM customers ORDER BY id")
    tokens = [
        row[0]
        for row in context.policy.tokenize(
            context.last_result, context.last_masked
        ).rows
    ]

    # Germany, France, Germany, USA, Spain, Germany
    assert tokens[0] == tokens[2] == tokens[5]
    assert len(set(tokens)) == 4
    assert all(t.startswith(TOKEN_PREFIX) for t in tokens)


@pytest.mark.parametrize("db_type", ENGINES)
def test_columns_that_carry_no_masked_value_stay_readable(tools_for, db_type):
    context = tools_for(db_type, masked_columns=["*email*"])

    shown = run_query(
        context,
        "SELECT c.name, COUNT(*) AS n FROM customers AS c JOIN orders AS o "
        "ON o.customer_id = c.id WHERE c.country = 'Germany' "
        "GROUP BY c.name ORDER BY c.name",
    )

    assert shown.startswith("3 row(s)")
    assert '["Ada Lovelace", 2]' in shown
    assert context.last_masked == frozenset()


@pytest.mark.parametrize("db_type", ENGINES)
def test_rows_a_masked_column_chooses_reach_the_model_neither_as_rows_nor_count(
    tools_for, db_type
):
    context = tools_for(db_type, masked_columns=["*email*"])

    shown = run_query(
        context,
        "SELECT c.name, COUNT(*) AS n, COUNT(email) AS with_email "
        "FROM customers AS c WHERE c.email LIKE '%a%' GROUP BY c.name ORDER BY c.name",
    )

    assert "Rows withheld" in shown
    assert "Lovelace" not in shown
    assert "row(s)" not in shown
    # The user still gets the rows (the connection does not hide them).
    assert context.last_result.rows[0][0] == "Ada Lovelace"


@pytest.mark.parametrize("db_type", ENGINES)
def test_an_untraceable_column_is_masked(tools_for, db_type):
    context = tools_for(db_type, masked_columns=["*email*"])
    # A table the catalog does not know: its values cannot be traced.
    sql = {
        "postgresql": "SELECT tablename FROM pg_catalog.pg_tables LIMIT 1",
        "mysql": "SELECT table_name FROM information_schema.tables LIMIT 1",
        "sqlite": "SELECT name FROM sqlite_master LIMIT 1",
    }[db_type]

    run_query(context, sql)

    assert context.last_masked == frozenset({0})


def test_a_whole_row_reference_is_masked(tools_for):
    context = tools_for("postgresql", masked_columns=["*email*"])

    shown = run_query(
        context, "SELECT row_to_json(c)::text || c.name AS r FROM customers AS c"
    )

    assert "@example.com" not in shown
    assert context.last_masked == frozenset({0})


def test_a_function_that_runs_sql_from_a_string_is_masked(tools_for):
    context = tools_for("postgresql", masked_columns=["*email*"])

    shown = run_query(
        context,
        "SELECT query_to_xml('SELECT email FROM customers', true, false, '')::text "
        "|| name AS x FROM customers",
    )

    assert "@example.com" not in shown


@pytest.fixture
def contacts_view(shop, sqlite_dir):
    """A view that renames the email column, on PostgreSQL and SQLite."""
    import psycopg

    create = "CREATE VIEW contacts AS SELECT id, email AS contact FROM customers"
    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
    ) as conn:
        conn.execute("DROP VIEW IF EXISTS contacts")
        conn.execute(create)
        conn.execute("GRANT SELECT ON contacts TO sqlagent_reader")
    lite = sqlite3.connect(sqlite_dir / SQLITE_FILE)
    lite.execute("DROP VIEW IF EXISTS contacts")
    lite.execute(create)
    lite.commit()
    yield
    lite.execute("DROP VIEW IF EXISTS contacts")
    lite.commit()
    lite.close()
    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=TARGET_DB, autocommit=True
    ) as conn:
        conn.execute("DROP VIEW IF EXISTS contacts")


@pytest.mark.parametrize("db_type", ["postgresql", "sqlite"])
def test_a_view_that_renames_a_masked_column_is_traced_through(
    contacts_view, tools_for, db_type
):
    context = tools_for(db_type, masked_columns=["*email*"])

    shown = run_query(context, "SELECT id, contact FROM contacts ORDER BY id")

    assert "@example.com" not in shown
    assert context.last_masked == frozenset({1})


@pytest.mark.parametrize("db_type", ENGINES)
def test_masked_hidden_gives_the_user_tokens_too(tools_for, db_type):
    context = tools_for(db_type, masked_columns=["email"], masked_hidden=True)

    run_query(context, "SELECT name, email FROM customers ORDER BY id")

    assert context.last_result.rows[0][0] == "Ada Lovelace"
    assert context.last_result.rows[0][1].startswith(TOKEN_PREFIX)


@pytest.mark.parametrize("db_type", ENGINES)
def test_schema_tier_shows_the_model_columns_and_count_but_no_value(tools_for, db_type):
    context = tools_for(db_type, privacy="schema")

    shown = run_query(context, "SELECT * FROM customers ORDER BY id")

    assert shown.startswith("6 row(s)")
    assert '"email"' in shown
    for _, name, country, email in CUSTOMERS:
        assert name not in shown
        assert country not in shown
        assert email not in shown
    # The user's rows are untouched.
    assert context.last_result.rows[0][1] == "Ada Lovelace"


@pytest.mark.parametrize("db_type", ENGINES)
def test_schema_tier_describes_tables_without_sample_values(tools_for, db_type):
    context = tools_for(db_type, privacy="schema")

    described = describe_tables(context, ["customers"])
    prompt = system_prompt(db_type=db_type, catalog=context.catalog)

    assert "email" in described
    for text in (described, prompt):
        assert "e.g." not in text
        assert "Lovelace" not in text
        assert CANARY not in text
    assert "you never see values" in prompt


@pytest.mark.parametrize("db_type", ENGINES)
def test_rows_tier_describes_samples_except_for_masked_columns(tools_for, db_type):
    context = tools_for(db_type, masked_columns=["customers.email"])

    described = describe_tables(context, ["customers"])

    assert "Ada Lovelace" in described
    assert "@example.com" not in described


def test_a_database_error_quoting_a_value_hides_it(tools_for):
    context = tools_for("postgresql", privacy="schema")

    shown = run_query(context, "SELECT CAST(email AS integer) FROM customers")

    assert shown.startswith("Error:")
    assert CANARY not in shown
    assert "InvalidTextRepresentation, SQLSTATE 22P02" in shown
    assert "withheld" in shown


def test_history_drops_answers_written_before_the_privacy_rules_changed(alice):
    now = timezone.now()
    policy = PrivacyPolicy(
        tier="schema", masks=(), masked_hidden=False, connection_id=1, changed_at=now
    )
    before = HistoryTurn(
        question="Who is first?",
        answer=f"{CANARY} is first.",
        sql=[f"SELECT * FROM customers WHERE email = '{CANARY}'"],
        asked_at=now - timedelta(minutes=1),
    )
    after = HistoryTurn(
        question="How many?",
        answer="6 customers; see the table.",
        sql=["SELECT COUNT(*) FROM customers"],
        asked_at=now + timedelta(minutes=1),
    )

    replayed = " ".join(
        str(m.content) for m in history_messages([before, after], privacy=policy)
    )

    assert "Who is first?" in replayed
    assert CANARY not in replayed
    assert "6 customers; see the table." in replayed


def test_an_engine_built_without_a_policy_reads_it_from_the_connection(
    alice, make_connection
):
    from agent.engines import SessionEngine
    from agent.querying import catalog_get

    connection = make_connection(alice, "sqlite", privacy="schema")
    engine = engine_create(connection)
    # As a caller outside the engine cache builds one (e.g. evaluation runs).
    session_engine = SessionEngine(
        session_id=uuid.uuid4(),
        connection_id=connection.pk,
        connection_version=connection.updated_at,
        db_type="sqlite",
        engine=engine,
    )
    try:
        catalog = catalog_get(session_engine)
        described = catalog.describe(["customers"])
    finally:
        engine.dispose()

    assert catalog.privacy is not None
    assert catalog.privacy.tier == "schema"
    assert "Lovelace" not in described
