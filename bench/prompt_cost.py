"""5. Prompt cost per question, from the stub's recorded requests: our agent on
10-, 200-, 2,000- and 10,000-table databases, beside LangChain's SQL toolkit agent
(`create_sql_agent`) driven through its tools against the same stub."""

from __future__ import annotations

import json
import sqlite3
import warnings
from pathlib import Path
from typing import Any

from bench.common import api_client, user_with_token
from testsupport.llm_stub import StubLLMServer, StubReply, estimate_tokens

TABLE = "table_007"
QUESTION = f"How many rows are in {TABLE}, by status?"
SQL = f"SELECT status, COUNT(*) AS n FROM {TABLE} GROUP BY status ORDER BY status"
ANCHOR = {10: (6, 5400), 200: (6, 8400)}


def database_create(folder: Path, tables: int) -> str:
    """Create a SQLite database of `tables` realistic small tables."""
    name = f"prompt{tables}.sqlite3"
    path = folder / name
    path.unlink(missing_ok=True)
    # One transaction: SQLite would otherwise commit (and re-read its schema
    # for) each CREATE TABLE, minutes at 10,000 tables.
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    for i in range(tables):
        conn.execute(
            f"CREATE TABLE table_{i:03d} (id INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, status TEXT NOT NULL, amount NUMERIC(10, 2), "
            f"created_at DATE, owner_id INTEGER "
            f"REFERENCES table_000(id))"
        )
        conn.executemany(
            f"INSERT INTO table_{i:03d} VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    r,
                    f"row {r} of {i}",
                    ("open", "closed")[r % 2],
                    r * 1.5,
                    "2026-01-0" + str(r),
                    r,
                )
                for r in range(1, 6)
            ],
        )
    conn.execute("COMMIT")
    conn.close()
    return name


def _tool_messages(body: dict[str, Any]) -> list[str]:
    """Return the names of the tools called so far in this conversation."""
    names = []
    for message in body.get("messages", []):
        for call in message.get("tool_calls") or []:
            names.append(call["function"]["name"])
    return names


def ours_responder(body: dict[str, Any]) -> StubReply:
    """Play a careful model: describe the table first unless its columns were sent."""
    called = _tool_messages(body)
    described = any(
        f"Table {TABLE}:" in str(message.get("content", ""))
        for message in body["messages"]
    )
    if not described and "describe_tables" not in called:
        return StubReply(tool_calls=[("describe_tables", {"table_names": [TABLE]})])
    if "run_query" not in called:
        return StubReply(tool_calls=[("run_query", {"sql": SQL})])
    return StubReply(content="closed: 3, open: 2.")


def toolkit_responder(body: dict[str, Any]) -> StubReply:
    """Drive the SQL toolkit agent the way its prompt asks a model to."""
    if not body.get("tools"):
        return StubReply(content=SQL)  # the query checker's own LLM call
    called = _tool_messages(body)
    for name, args in (
        ("sql_db_list_tables", {"tool_input": ""}),
        ("sql_db_schema", {"table_names": TABLE}),
        ("sql_db_query_checker", {"query": SQL}),
        ("sql_db_query", {"query": SQL}),
    ):
        if name not in called:
            return StubReply(tool_calls=[(name, args)])
    return StubReply(content="closed: 3, open: 2.")


def _request_tokens(request: dict[str, Any]) -> int:
    return estimate_tokens(
        {"messages": request.get("messages"), "tools": request.get("tools")}
    )


def _cost(requests: list[dict[str, Any]]) -> tuple[int, int]:
    return len(requests), sum(_request_tokens(r) for r in requests)


def _ours(stub: StubLLMServer, name: str) -> tuple[int, int, int]:
    """Return our agent's calls, total tokens and largest single request."""
    from agent.engines import engine_cache
    from connections.services import connection_create

    engine_cache.close_all()
    user, token = user_with_token("bench-prompt")
    connection = connection_create(
        owner=user, db_type="sqlite", database_name=name, host="", port=0
    )
    client = api_client(token)
    assert client.post(f"/databases/connect_db/{connection.id}").status_code == 200
    stub.responder = ours_responder
    stub.requests.clear()
    response = client.post("/ask", {"question": QUESTION}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["result"]["rows"] == [["closed", 3], ["open", 2]]
    calls, tokens = _cost(stub.requests)
    return calls, tokens, max(_request_tokens(r) for r in stub.requests)


def _toolkit(stub: StubLLMServer, path: Path) -> tuple[int, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langchain_community.agent_toolkits import create_sql_agent
        from langchain_community.utilities import SQLDatabase
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        model="stub-model",
        api_key="sk-stub",
        base_url=stub.base_url,
        temperature=0,
        max_retries=0,
        use_responses_api=False,
    )
    db = SQLDatabase.from_uri(f"sqlite:///{path}")
    agent = create_sql_agent(llm, db=db, agent_type="tool-calling", verbose=False)
    stub.responder = toolkit_responder
    stub.requests.clear()
    result = agent.invoke({"input": QUESTION})
    assert "closed: 3" in result["output"], result
    return _cost(stub.requests)


def measure(stub: StubLLMServer, sqlite_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for tables in (10, 200, 2000, 10000):
        name = database_create(sqlite_dir, tables)
        ours = _ours(stub, name)
        toolkit = _toolkit(stub, sqlite_dir / name)
        rows.append(
            {
                "tables": tables,
                "ours_calls": ours[0],
                "ours_tokens": ours[1],
                "ours_largest_request": ours[2],
                "toolkit_calls": toolkit[0],
                "toolkit_tokens": toolkit[1],
                "anchor_calls": ANCHOR.get(tables, (None, None))[0],
                "anchor_tokens": ANCHOR.get(tables, (None, None))[1],
            }
        )
    return rows


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(ANCHOR))
