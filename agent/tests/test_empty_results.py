"""An empty result is checked against the data before the model answers: the
literal that matched nothing and the close stored values go back to the model
(one retry), a true negative is said plainly, and the privacy rules hold."""

from __future__ import annotations

from typing import Any

import pytest

from agent import sql_guard
from agent.empty_results import empty_result_diagnosis, text_filters
from agent.engines import engine_cache
from agent.privacy import NOTHING_RESTRICTED, policy_default
from agent.querying import catalog_get
from agent.services import thread_ask
from agent.value_lookup import values_near
from testsupport.fake_llm import scripted, tool_call, tool_results
from testsupport.fixtures import CUSTOMERS, ENGINES

pytestmark = pytest.mark.django_db

MISSPELT = "SELECT name FROM customers WHERE country = 'Germani'"
FIXED = "SELECT name FROM customers WHERE country = 'Germany'"


def _sent(model: Any) -> str:
    return "\n".join(str(m.content) for call in model.received for m in call)


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_literal_that_matches_nothing_comes_back_with_the_close_stored_value(
    alice, connected_session, db_type
):
    connected_session(alice, db_type)
    model = scripted(
        tool_call(MISSPELT),
        tool_call(FIXED),
        "Ada Lovelace, Chen Wei and Fatima Zahra.",
    )

    turn = thread_ask(user=alice, question="Who lives in Germani?", chat_model=model)

    first_result = tool_results(model)[0]
    assert "0 row(s)" in first_result
    assert "customers.country = 'Germani': matches no row" in first_result
    assert "close stored values: 'Germany'" in first_result
    # The retry found the rows; the diagnosis cost exactly one more call.
    assert turn.llm_calls == 3
    assert turn.result["row_count"] == 3
    [diagnosis] = turn.diagnosis
    assert diagnosis["true_negative"] is False
    assert diagnosis["checks"] == [
        {
            "table": "customers",
            "column": "country",
            "op": "=",
            "literal": "Germani",
            "found": False,
            "close": ["Germany"],
        }
    ]


@pytest.mark.parametrize("db_type", ENGINES)
def test_an_empty_result_whose_values_exist_is_a_true_negative_at_no_extra_call(
    alice, connected_session, db_type
):
    connected_session(alice, db_type)
    model = scripted(
        tool_call(
            "SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id "
            "WHERE c.country = 'Spain' AND o.total > 100"
        ),
        "No customer in Spain has an order over 100; Spain has customers.",
    )

    turn = thread_ask(user=alice, question="Big orders from Spain?", chat_model=model)

    assert "true negative" in tool_results(model)[0]
    assert "customers.country = 'Spain': rows hold this value" in tool_results(model)[0]
    assert turn.llm_calls == 2
    assert turn.diagnosis[0]["true_negative"] is True


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_zero_count_is_diagnosed_like_an_empty_result(
    alice, connected_session, db_type
):
    connected_session(alice, db_type)
    model = scripted(
        tool_call(
            "SELECT COUNT(*) FROM customers WHERE country IN ('Frnace', 'Atlantis')"
        ),
        "None.",
    )

    turn = thread_ask(user=alice, question="Customers in Frnace?", chat_model=model)

    checks = {c["literal"]: c for c in turn.diagnosis[0]["checks"]}
    assert checks["Atlantis"] == {**checks["Atlantis"], "found": False, "close": []}
    assert checks["Frnace"]["found"] is False
    assert checks["Frnace"]["close"] == ["France"]


@pytest.mark.parametrize("db_type", ENGINES)
def test_the_diagnosis_is_given_once_per_ask(alice, connected_session, db_type):
    connected_session(alice, db_type)
    model = scripted(
        tool_call(MISSPELT),
        tool_call("SELECT name FROM customers WHERE country = 'Atlantis'"),
        "Nobody.",
    )

    turn = thread_ask(user=alice, question="Who lives in Germani?", chat_model=model)

    second_result = tool_results(model)[1]
    assert "Checked against the data" not in second_result
    assert len(turn.diagnosis) == 1


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_found_value_costs_no_diagnosis_and_two_calls(
    alice, connected_session, db_type
):
    connected_session(alice, db_type)
    model = scripted(tool_call(FIXED), "Three customers.")

    turn = thread_ask(user=alice, question="Who lives in Germany?", chat_model=model)

    assert turn.llm_calls == 2
    assert turn.diagnosis == []


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_schema_tier_connection_is_never_diagnosed_and_no_value_leaks(
    alice, connected_session, db_type
):
    connected_session(alice, db_type, privacy="schema")
    model = scripted(
        tool_call(MISSPELT),
        _find_values_call("customers", "country", "Germani"),
        _find_values_call("customers", "name", "Ada"),
        "See the table.",
    )

    turn = thread_ask(user=alice, question="Who lives in Germani?", chat_model=model)

    sent = _sent(model)
    for value in ["Germany", "France", *[row[1] for row in CUSTOMERS]]:
        assert value not in sent
    assert "Privacy tier 'schema'" in tool_results(model)[1]
    assert turn.diagnosis == []


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_masked_column_is_never_diagnosed_nor_searched(
    alice, connected_session, db_type
):
    connected_session(alice, db_type, masked_columns=["country"])
    model = scripted(
        tool_call(MISSPELT),
        _find_values_call("customers", "country", "Germani"),
        "See the table.",
    )

    turn = thread_ask(user=alice, question="Who lives in Germani?", chat_model=model)

    sent = _sent(model)
    assert "Germany" not in sent
    assert "masked" in tool_results(model)[1]
    assert turn.diagnosis == []


@pytest.mark.parametrize("db_type", ENGINES)
def test_find_values_returns_the_stored_spelling(alice, connected_session, db_type):
    connected_session(alice, db_type)
    model = scripted(
        _find_values_call("customers", "country", "germany"),
        tool_call(FIXED),
        "Three.",
    )

    thread_ask(user=alice, question="Who lives in germany?", chat_model=model)

    assert "'Germany'" in tool_results(model)[0]
    assert "'France'" not in tool_results(model)[0]


def _find_values_call(table: str, column: str, search: str) -> Any:
    from langchain_core.messages import AIMessage

    return AIMessage(
        content="",
        tool_calls=[
            {
                "name": "find_values",
                "args": {"table": table, "column": column, "search": search},
                "id": f"fv_{table}_{column}_{search}",
            }
        ],
    )


@pytest.mark.parametrize("db_type", ENGINES)
def test_filters_are_resolved_through_aliases_to_base_table_columns(
    alice, connected_session, db_type
):
    session = connected_session(alice, db_type)
    catalog = catalog_get(engine_cache.get(session))

    found = text_filters(
        "SELECT c.name FROM customers AS c WHERE c.country = 'Spain' "
        "AND c.id = 3 AND name LIKE 'A%' AND (SELECT COUNT(*) FROM orders) > 0",
        catalog=catalog,
    )

    assert {(f.table, f.column, f.op, f.literal) for f in found} == {
        ("customers", "country", "=", "Spain"),
        ("customers", "name", "LIKE", "A%"),
    }


def test_the_chat_page_shows_the_diagnosis_under_the_answer(
    alice, alice_page, connected_session
):
    connected_session(alice, "sqlite")
    model = scripted(tool_call(MISSPELT), tool_call(FIXED), "Three customers.")
    turn = thread_ask(user=alice, question="Who lives in Germani?", chat_model=model)

    page = alice_page.get(f"/history/{turn.thread_id}/").content.decode()

    answer_at = page.index("Three customers.")
    diagnosis_at = page.index('class="diagnosis')
    assert answer_at < diagnosis_at
    assert "<code>customers.country = 'Germani'</code>" in page
    assert "close stored values: <code>'Germany'</code>" in page


def test_the_api_returns_the_turns_diagnosis(alice, alice_client, connected_session):
    connected_session(alice, "sqlite")
    model = scripted(tool_call(MISSPELT), tool_call(FIXED), "Three customers.")
    turn = thread_ask(user=alice, question="Who lives in Germani?", chat_model=model)

    body = alice_client.get(f"/threads/{turn.thread_id}").json()

    [listed] = [t for t in body["turns"] if t["turn_id"] == turn.pk]
    assert listed["diagnosis"][0]["checks"][0]["close"] == ["Germany"]


# Wrong case, missing accents, another spelling: what a user types for a value.
MISTYPED = [
    ("places", "city", "zürich", "Zürich"),
    ("places", "city", "Zurich", "Zürich"),
    ("places", "city", "ZURICH", "Zürich"),
    ("places", "city", "Sao Paulo", "São Paulo"),
    ("places", "city", "sao paulo", "São Paulo"),
    ("places", "city", "New-York", "New York"),
    ("places", "city", "NewYork", "New York"),
    ("customers", "country", "germany", "Germany"),
    ("customers", "country", "Germani", "Germany"),
    ("customers", "country", "Frnace", "France"),
    ("customers", "country", "spain ", "Spain"),
    ("customers", "country", "U.S.A.", "USA"),
]


@pytest.mark.parametrize("db_type", ENGINES)
def test_every_mistyped_value_is_handed_back_stored_or_forgiven_by_the_engine(
    alice, connected_session, places, db_type
):
    """The diagnosis's value recall on this set: a mistyped literal either
    matches rows as it is (the engine's collation forgives case or accents:
    MariaDB's does) or its diagnosis names the stored value."""
    session = connected_session(alice, db_type)
    session_engine = engine_cache.get(session)
    catalog = catalog_get(session_engine)
    handed = forgiven = 0
    for table, column, typed, stored in MISTYPED:
        sql = f"SELECT id FROM {table} WHERE {column} = '{typed}'"
        result = sql_guard.query_run(
            session_engine.engine, db_type=db_type, sql=sql, max_rows=10, timeout_s=5
        )
        if result.row_count:
            forgiven += 1
            continue
        diagnosis = empty_result_diagnosis(
            sql=sql,
            catalog=catalog,
            policy=policy_default(),
            exposure=NOTHING_RESTRICTED,
        )
        assert diagnosis is not None, typed
        [check] = diagnosis.checks
        assert check.close[0] == stored, (typed, check.close)
        handed += 1
    assert handed + forgiven == len(MISTYPED)
    assert handed >= 5  # no engine forgives a misspelling


@pytest.mark.parametrize("db_type", ENGINES)
def test_a_many_valued_column_is_searched_by_shared_letters(
    alice, connected_session, places, settings, db_type
):
    """Past VALUE_INDEX_MAX_DISTINCT values the column is not read whole: the
    values sharing letter trigrams with the word are read instead."""
    settings.VALUE_INDEX_MAX_DISTINCT = 2
    session = connected_session(alice, db_type)
    catalog = catalog_get(engine_cache.get(session))

    assert values_near(catalog, "customers", "country", "Germani") == ["Germany"]
    assert values_near(catalog, "places", "city", "zurich")[0] == "Zürich"


def test_the_checks_of_one_empty_result_share_one_lookup_time(
    alice, connected_session, settings
):
    """Spent, the lookups stop at once: no literal is checked, nothing waits."""
    settings.VALUE_LOOKUP_TIMEOUT_S = 0
    session = connected_session(alice, "sqlite")
    catalog = catalog_get(engine_cache.get(session))

    diagnosis = empty_result_diagnosis(
        sql=MISSPELT,
        catalog=catalog,
        policy=policy_default(),
        exposure=NOTHING_RESTRICTED,
    )

    assert diagnosis is None
