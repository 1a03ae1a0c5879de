"""On a big schema, tables are ranked by what the question says of them: their
names (stems and compound names too), their columns, not by stop words; a
table's variants (`stg_x`, `x_archive`) do not crowd out the tables needed."""

from __future__ import annotations

import pytest

from knowledge.retrieval import knowledge_context

pytestmark = pytest.mark.django_db

COLUMNS = {
    "business": ["business_id", "name", "city", "state"],
    "review": ["rid", "business_id", "user_id", "rating", "text"],
    "stg_business": ["business_id", "name", "city"],
    "business_archive": ["business_id", "name", "city"],
    "business_backup": ["business_id", "name", "city"],
    "bill_of_material": ["id", "part", "quantity"],
    "sbcustomer": ["sbcustid", "sbcustname", "sbcustcountry"],
    "course_offering": ["offering_id", "course_id", "semester"],
    "purchase_order": ["id", "po_number", "amount"],
    "gl_account": ["id", "account_code"],
}


def _ranked(connection, question: str, *, k: int = 2, columns=True) -> list[str]:
    from django.conf import settings

    settings.KNOWLEDGE_TOP_K_TABLES = k
    return knowledge_context(
        connection_id=connection.id,
        question=question,
        table_names=sorted(COLUMNS),
        table_columns=(lambda: COLUMNS) if columns else None,
    ).tables


def test_a_column_the_question_names_ranks_its_table(alice, make_connection):
    connection = make_connection(alice, "sqlite")

    ranked = _ranked(connection, "What is the average rating of each business?")

    assert set(ranked) == {"business", "review"}
    # Without the columns, nothing but the name says "review".
    assert "review" not in _ranked(
        connection, "What is the average rating of each business?", columns=False
    )


def test_variants_of_a_ranked_table_are_left_out_unless_asked_for(
    alice, make_connection
):
    connection = make_connection(alice, "sqlite")

    assert _ranked(connection, "How many businesses are there?", k=3)[0] == "business"
    assert not {"stg_business", "business_archive", "business_backup"} & set(
        _ranked(connection, "How many businesses are there?", k=3)
    )
    assert "business_archive" in _ranked(
        connection, "How many businesses are in the archive?", k=3
    )


def test_stop_words_rank_nothing_and_compound_names_and_stems_are_found(
    alice, make_connection
):
    connection = make_connection(alice, "sqlite")

    assert _ranked(connection, "What is the number of them?") == []
    # How rows are shown, or a word inside another ("count" in "account").
    ranked = _ranked(connection, "Count the businesses, ordered by name", k=3)
    assert ranked[0] == "business"
    assert not {"purchase_order", "gl_account"} & set(ranked)
    assert _ranked(connection, "Which customer joined first?", k=1) == ["sbcustomer"]
    assert _ranked(connection, "Which courses are offered?", k=1) == ["course_offering"]


def test_a_link_table_joining_two_described_tables_is_brought_briefly(
    alice, make_connection, settings, tmp_path
):
    import sqlite3

    from sqlalchemy import create_engine

    from agent.catalog import SchemaCatalog
    from agent.llm.prompt import question_context_prepare

    path = tmp_path / "academic.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE author (aid INTEGER, name TEXT, homepage TEXT);"
        "CREATE TABLE publication (pid INTEGER, title TEXT, year INTEGER);"
        "CREATE TABLE writes (aid INTEGER, pid INTEGER);"
        "CREATE TABLE stg_writes (aid INTEGER, pid INTEGER);"
        "CREATE TABLE journal (jid INTEGER, name TEXT);"
    )
    db.close()
    engine = create_engine(f"sqlite:///{path}")
    catalog = SchemaCatalog(engine, "sqlite")
    settings.SCHEMA_PROMPT_TOKEN_BUDGET = 60
    settings.KNOWLEDGE_TOP_K_TABLES = 2
    connection = make_connection(alice, "sqlite")

    prepared = question_context_prepare(
        connection_id=connection.id,
        question="How many publications has each author?",
        catalog=catalog,
    )

    assert {"table": "writes", "why": "joins author and publication"} in (
        prepared.described
    )
    assert "stg_writes" not in {d["table"] for d in prepared.described}
    text = str(prepared.messages[0].content)
    assert "Table writes (joins author and publication): aid INTEGER, pid INTEGER" in (
        text
    )
    engine.dispose()


def test_the_link_table_named_after_the_tables_it_joins_comes_first(tmp_path):
    import sqlite3

    from sqlalchemy import create_engine

    from agent.catalog import SchemaCatalog
    from agent.schema_linking import bridge_tables

    path = tmp_path / "links.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE domain (did INTEGER, name TEXT);"
        "CREATE TABLE publication (pid INTEGER, cid INTEGER, title TEXT);"
        # Both join them: by publication's cid, or by its own key pid.
        "CREATE TABLE domain_conference (cid INTEGER, did INTEGER);"
        "CREATE TABLE domain_publication (did INTEGER, pid INTEGER);"
    )
    db.close()
    engine = create_engine(f"sqlite:///{path}")

    found = bridge_tables(
        SchemaCatalog(engine, "sqlite"), ["domain", "publication"], limit=1
    )

    assert found == [("domain_publication", "joins domain and publication")]
    engine.dispose()
