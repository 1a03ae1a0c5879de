"""The statement check reads the text the way the server's own lexer does.

Pure tests of `statement_check` first (what is refused, what still passes, what
runs), then the issue's payloads against a real MariaDB and PostgreSQL: each
one runs its forbidden call when sent to the server directly, and is refused
by the guarded path with nothing left behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from agent.sql_guard import StatementRefused, query_run, statement_check
from agent.sql_guard.lexer import MAX_NESTING
from connections.engines import engine_create
from testsupport.fixtures import TARGET_DB

DIALECTS = ("postgresql", "mysql", "sqlite")

# Python calls these spaces; MariaDB does not, so `--` before them is code there.
UNICODE_SPACES = [
    "\u0085",
    "\u00a0",
    "\u1680",
    *[chr(code) for code in range(0x2000, 0x200B)],
    "\u2028",
    "\u2029",
    "\u202f",
    "\u205f",
    "\u3000",
]


def refusal(sql: str, db_type: str) -> str:
    with pytest.raises(StatementRefused) as caught:
        statement_check(sql, db_type=db_type)
    return caught.value.reason


def issue_payload(space: str, call: str) -> str:
    return f"SELECT 1 --{space} AS a, {call} AS b\n, 2 FROM (SELECT 1 AS `{space}`) t"


FORBIDDEN_MARIADB_CALLS = [
    "SLEEP(2)",
    "GET_LOCK('sqlagent_lexer', 0)",
    "LOAD_FILE('/etc/hostname')",
    "BENCHMARK(10, MD5('x'))",
    "MASTER_POS_WAIT('x', 1, 1)",
    "EXTRACTVALUE('<a/>', '/a')",
]


# --- the issue's payloads ------------------------------------------------------


def test_every_unicode_space_python_knows_is_one_of_the_issues_nineteen():
    assert len(UNICODE_SPACES) == 19
    assert all(space.isspace() for space in UNICODE_SPACES)


@pytest.mark.parametrize("space", UNICODE_SPACES, ids=lambda s: f"U+{ord(s):04X}")
@pytest.mark.parametrize("db_type", DIALECTS)
def test_dash_dash_before_a_unicode_space_is_refused(space: str, db_type: str):
    reason = refusal(issue_payload(space, "SLEEP(2)"), db_type)

    assert f"U+{ord(space):04X}" in reason


@pytest.mark.parametrize("call", FORBIDDEN_MARIADB_CALLS)
def test_the_issues_forbidden_calls_behind_a_no_break_space_are_refused(call: str):
    assert "U+00A0" in refusal(issue_payload("\u00a0", call), "mysql")


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM orders INTO/**/OUTFILE '/tmp/lexer_o.txt'",
        "SELECT * FROM orders INTO/* x */DUMPFILE '/tmp/lexer_o.bin'",
        "SELECT * FROM orders INTO -- x\nOUTFILE '/tmp/lexer_o.txt'",
        "SELECT * FROM orders INTO\tOUTFILE '/tmp/lexer_o.txt'",
    ],
)
def test_into_outfile_is_refused_whatever_separates_the_words(sql: str, db_type: str):
    assert "OUTFILE" in refusal(sql, db_type)


def test_into_outfile_on_a_dash_dash_line_is_refused_on_mysql():
    sql = "SELECT 1 --\u00a0 INTO/**/OUTFILE '/tmp/lexer_o.txt'\n"

    assert "U+00A0" in refusal(sql, "mysql")


def test_the_words_into_outfile_inside_a_string_are_only_text():
    sql = "SELECT 'INTO OUTFILE' AS words"

    assert statement_check(sql, db_type="mysql") == sql


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize("sql", ["SELECT 1 AS a ;AS", "SELECT 1; ;AS x"])
def test_text_after_a_semicolon_is_refused_even_when_sqlglot_reads_nothing(
    sql: str, db_type: str
):
    assert "semicolon" in refusal(sql, db_type)


# --- comments each dialect reads its own way ---------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1 --x\n, SLEEP(1)",
        "SELECT 1--1",
        "SELECT 1 --\x0b, SLEEP(1)",
        "SELECT 1 --\u200b, SLEEP(1)",
    ],
)
def test_mysql_dash_dash_without_an_ascii_space_is_refused(sql: str):
    assert "--" in refusal(sql, "mysql")


@pytest.mark.parametrize("db_type", DIALECTS)
def test_dash_dash_with_a_space_is_a_comment_and_is_removed(db_type: str):
    sql = "SELECT 1 AS a -- the answer\n, 2 AS b"

    assert statement_check(sql, db_type=db_type) == "SELECT 1 AS a  \n, 2 AS b"


def test_a_mysql_hash_comment_ends_at_the_newline_and_what_follows_is_checked():
    assert "sleep()" in refusal("SELECT 1 # note\n, SLEEP(1)", "mysql")
    assert statement_check("SELECT 1 # note", db_type="mysql") == "SELECT 1"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1 /*! , SLEEP(1) */",
        "SELECT 1 /*M!100000 , SLEEP(1) */",
        "SELECT 1 /*m! , SLEEP(1) */",
        "SELECT /*+ MAX_EXECUTION_TIME(1) */ 1",
    ],
)
@pytest.mark.parametrize("db_type", DIALECTS)
def test_executable_comments_and_hints_are_refused(sql: str, db_type: str):
    assert "executable comments" in refusal(sql, db_type)


def test_postgresql_nested_comments_are_one_comment():
    sql = "SELECT 1 AS a /* outer /* inner */ , pg_sleep(1) AS b */"

    assert statement_check(sql, db_type="postgresql") == "SELECT 1 AS a"


@pytest.mark.parametrize("db_type", ["mysql", "sqlite"])
def test_a_comment_opened_inside_a_comment_is_refused_where_they_do_not_nest(
    db_type: str,
):
    sql = "SELECT 1 AS a /* outer /* inner */ , SLEEP(1) AS b */"

    assert "inside a comment" in refusal(sql, db_type)


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1 -- x\r, 2 AS b",  # PostgreSQL ends the comment at CR
        "SELECT 1 /* never closed",
        "SELECT 1 -- a comment with\u2028a line separator",
        "SELECT 1 /* zero\u200bwidth */",
        "SELECT 1 AS\u00a0a",
        "SELECT\u30001",
        "SELECT 1\x00",
        "SELECT 'a\x00b' AS s",
        "SELECT 1 AS a\x0c",
    ],
)
def test_what_the_readers_could_split_differently_is_refused(sql: str, db_type: str):
    assert "could read this differently" in refusal(sql, db_type)


@pytest.mark.parametrize("db_type", DIALECTS)
def test_crlf_line_ends_are_plain_line_ends(db_type: str):
    sql = "SELECT 1 AS a -- note\r\n, 2 AS b"

    # The CR stays in the comment: PostgreSQL ends it there, the others at LF.
    assert statement_check(sql, db_type=db_type) == "SELECT 1 AS a  \n, 2 AS b"


# --- strings and quoted names --------------------------------------------------


@pytest.mark.parametrize("db_type", DIALECTS)
def test_unicode_inside_strings_and_quoted_names_is_allowed(db_type: str):
    quote = "`" if db_type == "mysql" else '"'
    sql = f"SELECT 'a\u00a0b\u2028c' AS {quote}x\u00a0y{quote}, 1 AS café"

    assert statement_check(sql, db_type=db_type) == sql


@pytest.mark.parametrize("db_type", DIALECTS)
def test_comments_may_hold_letters_and_symbols_of_any_script(db_type: str):
    sql = "-- prix moyen en €, «par client»\nSELECT 1 /* ½ — ok */ AS a"

    assert statement_check(sql, db_type=db_type) == "SELECT 1   AS a"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'a\\' , SLEEP(1) -- ' AS s",
        'SELECT "a\\" , SLEEP(1) -- " AS s',
        "SELECT 'it\\'s' AS s",
    ],
)
def test_a_mysql_string_whose_end_depends_on_sql_mode_is_refused(sql: str):
    assert "backslash before a quote" in refusal(sql, "mysql")


def test_mysql_backslashes_that_do_not_move_the_end_are_allowed():
    sql = r"SELECT 'a\\' AS a, REGEXP_REPLACE(name, '\\d+', '') AS b FROM customers"

    assert statement_check(sql, db_type="mysql") == sql


def test_a_postgresql_string_whose_end_depends_on_standard_conforming_strings():
    sql = "SELECT 'C:\\' AS p, pg_sleep(1) AS q -- '"

    assert "backslash before a quote" in refusal(sql, "postgresql")


def test_a_postgresql_escape_string_ends_where_the_server_ends_it():
    # E'\'' is one quote; the call after it is code and is refused.
    assert "pg_sleep()" in refusal("SELECT E'\\'', pg_sleep(1) --'", "postgresql")
    sql = r"SELECT E'a\nb' AS s, regexp_replace(name, '\s+', ' ') FROM customers"
    assert statement_check(sql, db_type="postgresql") == sql


@pytest.mark.parametrize(
    "sql",
    ["SELECT $$x$$ AS s", "SELECT $tag$ ' $tag$ AS s", "SELECT $1"],
)
def test_postgresql_dollar_quotes_and_parameters_are_refused(sql: str):
    assert "$" in refusal(sql, "postgresql")


@pytest.mark.parametrize("sql", ["SELECT :a", "SELECT @a", "SELECT $a(1)", "SELECT ?"])
def test_sqlite_parameters_are_refused(sql: str):
    assert "parameter" in refusal(sql, "sqlite")


def test_sqlite_bracket_names_end_at_the_first_bracket():
    sql = "SELECT 1 AS [a ' b]"

    assert statement_check(sql, db_type="sqlite") == sql


@pytest.mark.parametrize(
    ("sql", "db_type"),
    [
        ("SELECT X'4g' AS h", "mysql"),
        ("SELECT B'012' AS b", "postgresql"),
        ("SELECT x'zz' AS b", "sqlite"),
    ],
)
def test_a_hex_or_bit_literal_with_other_characters_is_refused(sql: str, db_type: str):
    assert "literal" in refusal(sql, db_type)


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize("sql", ["SELECT 1abc", "SELECT 0x1g", "SELECT 1_000"])
def test_a_number_run_into_a_name_is_refused(sql: str, db_type: str):
    assert "number run into a name" in refusal(sql, db_type)


@pytest.mark.parametrize("db_type", DIALECTS)
def test_a_non_ascii_digit_in_code_is_refused(db_type: str):
    assert "U+0663" in refusal("SELECT \u0663", db_type)


# --- nesting and length (bad input is a refusal, never a crash) -----------------


def _nested(shape: str, depth: int) -> str:
    return {
        "parens": "SELECT " + "(" * depth + "1" + ")" * depth,
        "calls": "SELECT " + "abs(" * depth + "1" + ")" * depth,
        "not": "SELECT 1 WHERE " + "NOT " * depth + "true",
        "minus": "SELECT " + "- " * depth + "1",
        "case": "SELECT " + "CASE WHEN 1 = 1 THEN " * depth + "1" + " END" * depth,
        "subqueries": "SELECT " + "(SELECT " * depth + "1" + ")" * depth,
    }[shape]


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize(
    ("shape", "depth"),
    [
        ("parens", 50),
        ("calls", 100),
        ("not", 3000),
        ("minus", 3000),
        ("case", 200),
        ("subqueries", 60),
        ("parens", MAX_NESTING + 1),
    ],
)
def test_deeply_nested_sql_is_refused_with_the_reason(
    shape: str, depth: int, db_type: str
):
    reason = refusal(_nested(shape, depth), db_type)

    assert f"nested more than {MAX_NESTING} levels" in reason


@pytest.mark.parametrize("db_type", DIALECTS)
@pytest.mark.parametrize("shape", ["parens", "calls", "case", "subqueries"])
def test_nesting_up_to_the_limit_passes(shape: str, db_type: str):
    sql = _nested(shape, MAX_NESTING - 1)

    assert statement_check(sql, db_type=db_type) == sql


@pytest.mark.parametrize("db_type", DIALECTS)
def test_long_flat_expressions_are_not_nesting(db_type: str):
    sql = (
        "SELECT "
        + " + ".join(["1"] * 2000)
        + " AS s FROM orders WHERE "
        + " AND ".join(["NOT total < 0"] * 300)
    )

    assert statement_check(sql, db_type=db_type) == sql


@pytest.mark.parametrize("db_type", DIALECTS)
def test_sql_over_the_length_limit_is_refused_by_the_check_itself(
    db_type: str, settings: Any
):
    settings.SQL_MAX_LENGTH = 20000
    sql = "SELECT 1 AS a" + " " * 20000

    assert "at most 20000" in refusal(sql, db_type)


# --- on the real servers ---------------------------------------------------------


@pytest.fixture
def admin_engine(
    alice: Any, make_connection: Callable[..., Any], privileged_ok: None
) -> Iterator[Callable[[str], Engine]]:
    engines: list[Engine] = []

    def build(db_type: str) -> Engine:
        engine = engine_create(make_connection(alice, db_type, reader=False))
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.dispose()


def _mariadb() -> Any:
    import MySQLdb

    return MySQLdb.connect(host="127.0.0.1", user="root", database=TARGET_DB)


def _lock_holder(lock: str) -> Any:
    conn = _mariadb()
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT IS_USED_LOCK(%s)", [lock])
        return cursor.fetchone()[0]
    finally:
        conn.close()


def test_mariadb_runs_the_issues_payload_when_the_check_is_skipped():
    """The control: the server reads `--<U+00A0>` as code and takes the lock.

    `1 --<U+00A0>` is 1 - (-`<U+00A0>`), the subquery's column: 2.
    """
    conn = _mariadb()
    try:
        cursor = conn.cursor()
        cursor.execute(issue_payload("\u00a0", "GET_LOCK('sqlagent_lexer_ctl', 0)"))
        assert cursor.fetchall() == ((2, 1, 2),)
        assert _lock_holder("sqlagent_lexer_ctl") is not None
    finally:
        conn.close()
    assert _lock_holder("sqlagent_lexer_ctl") is None


@pytest.mark.parametrize("space", ["\u00a0", "\u2028", "\u3000", "\u0085"])
def test_mariadb_payload_is_refused_and_takes_no_lock(
    admin_engine: Callable[[str], Engine], space: str
):
    engine = admin_engine("mysql")

    with pytest.raises(StatementRefused):
        query_run(
            engine,
            db_type="mysql",
            sql=issue_payload(space, "GET_LOCK('sqlagent_lexer', 0)"),
            max_rows=10,
            timeout_s=5,
        )

    assert _lock_holder("sqlagent_lexer") is None


@pytest.mark.parametrize("call", FORBIDDEN_MARIADB_CALLS)
def test_every_issue_payload_is_refused_before_the_server_sees_it(
    admin_engine: Callable[[str], Engine], call: str
):
    engine = admin_engine("mysql")

    with pytest.raises(StatementRefused) as caught:
        query_run(
            engine,
            db_type="mysql",
            sql=issue_payload("\u00a0", call),
            max_rows=10,
            timeout_s=5,
        )

    assert "U+00A0" in caught.value.reason


def test_mariadb_into_outfile_behind_a_comment_writes_no_file(
    admin_engine: Callable[[str], Engine], tmp_path: Any
):
    target = f"/tmp/sqlagent_lexer_{tmp_path.name}.txt"  # noqa: S108 - server side
    engine = admin_engine("mysql")

    with pytest.raises(StatementRefused):
        query_run(
            engine,
            db_type="mysql",
            sql=f"SELECT 1 INTO/**/OUTFILE '{target}'",
            max_rows=10,
            timeout_s=5,
        )

    conn = _mariadb()
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT LOAD_FILE(%s)", [target])
        assert cursor.fetchone()[0] is None
    finally:
        conn.close()


def test_postgresql_ends_a_comment_at_a_carriage_return_and_the_check_refuses_it(
    admin_engine: Callable[[str], Engine],
):
    import psycopg

    sql = "SELECT 1 AS a -- note\r, pg_backend_pid() AS b"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=TARGET_DB) as conn:
        # The control: PostgreSQL reads the call after the CR.
        row = conn.execute(sql).fetchone()
        assert row is not None
        assert len(row) == 2

    with pytest.raises(StatementRefused):
        query_run(
            admin_engine("postgresql"),
            db_type="postgresql",
            sql=sql,
            max_rows=10,
            timeout_s=5,
        )


@pytest.mark.parametrize("db_type", DIALECTS)
def test_the_server_runs_the_comment_free_statement_the_check_returns(
    admin_engine: Callable[[str], Engine], db_type: str
):
    sql = "SELECT 1 AS a /* one */ , 2 AS b -- two\n, 3 AS c"

    result = query_run(
        admin_engine(db_type), db_type=db_type, sql=sql, max_rows=10, timeout_s=5
    )

    assert result.columns == ["a", "b", "c"]
    assert result.rows == [[1, 2, 3]]


# --- through the endpoints the issue named -------------------------------------

LOCK_PAYLOAD = issue_payload("\u00a0", "GET_LOCK('sqlagent_lexer_api', 0)")


def _connect(client: Any, make_connection: Any, owner: Any) -> Any:
    connection = make_connection(owner, "mysql")
    assert client.post(f"/databases/connect_db/{connection.id}").status_code == 200
    return connection


@pytest.mark.django_db
def test_the_payload_on_ask_sql_is_a_400_and_takes_no_lock(
    alice_client: Any, alice: Any, make_connection: Any
):
    _connect(alice_client, make_connection, alice)

    response = alice_client.post("/ask/sql", {"sql": LOCK_PAYLOAD}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "sql_refused"
    assert "U+00A0" in response.json()["detail"]
    assert _lock_holder("sqlagent_lexer_api") is None


@pytest.mark.django_db
def test_the_payload_from_the_model_is_refused_and_the_model_told(
    alice_client: Any, alice: Any, make_connection: Any, llm_stub: Any
):
    from testsupport.llm_stub import StubReply, scripted_responder

    _connect(alice_client, make_connection, alice)
    llm_stub.responder = scripted_responder(
        [
            StubReply(tool_calls=[("run_query", {"sql": LOCK_PAYLOAD})]),
            StubReply(content="Refused."),
        ]
    )

    response = alice_client.post("/ask", {"question": "Lock?"}, format="json")

    assert response.status_code == 200
    assert response.json()["queries"][0]["error"].startswith("Refused: ")
    told = llm_stub.requests[1]["messages"][-1]
    assert "U+00A0" in str(told["content"])
    assert _lock_holder("sqlagent_lexer_api") is None


@pytest.mark.django_db
def test_the_payload_as_a_knowledge_example_is_a_400(
    alice_client: Any, alice: Any, make_connection: Any
):
    from knowledge.models import Example

    connection = make_connection(alice, "mysql")

    response = alice_client.post(
        f"/databases/{connection.id}/knowledge/examples",
        {"question": "Lock", "sql": LOCK_PAYLOAD},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "example_sql_refused"
    assert not Example.objects.exists()
