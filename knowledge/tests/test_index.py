"""The retrieval index is built once per change of the knowledge, and stays right."""

from __future__ import annotations

import json
import random
import threading

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection as db_connection
from rank_bm25 import BM25Okapi

from knowledge import index as index_module
from knowledge.index import Bm25, index_cache
from knowledge.models import Example, KnowledgeVersion
from knowledge.retrieval import knowledge_context

pytestmark = pytest.mark.django_db

TABLES = ["customers", "orders", "notes"]
REVENUE_SQL = "SELECT SUM(total) AS revenue FROM orders"


@pytest.fixture
def builds(monkeypatch):
    """Count the index builds (the real build runs)."""
    counted: list[int] = []
    original = index_module.index_build

    def counting(**kwargs):
        counted.append(kwargs["connection_id"])
        return original(**kwargs)

    monkeypatch.setattr(index_module, "index_build", counting)
    return counted


def _context(connection, question: str = "What is our revenue?") -> str:
    return knowledge_context(
        connection_id=connection.id, question=question, table_names=TABLES
    ).text


def test_scores_are_rank_bm25s_to_the_last_bit():
    rng = random.Random(19)
    # Few words, many documents: frequent words get rank_bm25's negative-idf floor.
    words = [f"w{i}" for i in range(40)]
    corpus = [
        [rng.choice(words[: rng.randint(3, 40)]) for _ in range(rng.randint(1, 30))]
        for _ in range(500)
    ]
    ours, theirs = Bm25(corpus), BM25Okapi(corpus)

    for _ in range(50):
        query = [rng.choice([*words, "absent"]) for _ in range(rng.randint(1, 6))]
        expected = theirs.get_scores(query)
        assert np.array_equal(ours.scores(query), expected)
        sharing = [i for i, doc in enumerate(corpus) if set(query) & set(doc)]
        best = sorted(sharing, key=lambda i: (-expected[i], i))[:5]
        assert ours.top(query, 5) == best


def test_questions_reuse_the_index_until_the_knowledge_changes(
    alice_client, alice, make_connection, builds
):
    connection = make_connection(alice, "sqlite")
    base = f"/databases/{connection.id}/knowledge/examples"
    for _ in range(3):
        assert _context(connection) == ""
    assert len(builds) == 1

    created = alice_client.post(
        base, {"question": "What is our revenue?", "sql": REVENUE_SQL}, format="json"
    ).json()
    assert REVENUE_SQL in _context(connection)
    assert REVENUE_SQL in _context(connection)
    assert len(builds) == 2

    # A Check records its result on the example: nothing retrieval reads.
    alice_client.post(f"{base}/{created['id']}/check")
    _context(connection)
    assert len(builds) == 2

    edited_sql = "SELECT SUM(total) AS revenue FROM orders WHERE total > 0"
    alice_client.patch(f"{base}/{created['id']}", {"sql": edited_sql}, format="json")
    assert edited_sql in _context(connection)
    assert len(builds) == 3

    alice_client.delete(f"{base}/{created['id']}")
    assert _context(connection) == ""
    assert len(builds) == 4


def test_instructions_descriptions_and_imports_each_rebuild_once(
    alice_client, alice, make_connection, builds
):
    connection = make_connection(alice, "sqlite")
    base = f"/databases/{connection.id}/knowledge"
    _context(connection)

    instruction = alice_client.post(
        f"{base}/instructions", {"text": "Revenue is net of tax."}, format="json"
    ).json()
    assert "Revenue is net of tax." in _context(connection)
    alice_client.patch(
        f"{base}/instructions/{instruction['id']}",
        {"text": "Revenue is gross."},
        format="json",
    )
    assert "Revenue is gross." in _context(connection)
    alice_client.post(
        f"{base}/notes",
        {"table_name": "orders", "column_name": "total", "description": "in EUR"},
        format="json",
    )
    assert "- orders.total: in EUR" in _context(connection, "revenue of orders")
    lines = "".join(
        json.dumps({"question": f"Revenue in month {m}?", "sql": REVENUE_SQL}) + "\n"
        for m in range(1, 13)
    )
    alice_client.post(
        f"{base}/import", {"file": SimpleUploadedFile("e.jsonl", lines.encode())}
    )
    assert "Revenue in month" in _context(connection)

    assert len(builds) == 5


def test_a_change_by_another_process_is_seen_at_the_next_question(
    alice, make_connection, builds
):
    connection = make_connection(alice, "sqlite")
    Example.objects.create(connection=connection, question="Churn?", sql="SELECT 1")
    assert _context(connection) == ""
    # Another process adds an example (bulk_create: no signal in this one) ...
    Example.objects.bulk_create(
        [Example(connection=connection, question="Revenue?", sql=REVENUE_SQL)]
    )
    assert _context(connection) == ""
    # ... and replaces the marker, as every write does.
    KnowledgeVersion.objects.filter(connection=connection).update(token="other")

    assert REVENUE_SQL in _context(connection)
    assert len(builds) == 2


def test_another_schema_ranks_its_own_tables_from_the_same_index(
    alice, make_connection, builds
):
    connection = make_connection(alice, "sqlite")
    Example.objects.create(
        connection=connection, question="Monthly churn", sql="SELECT * FROM t_y"
    )
    ask = {"connection_id": connection.id, "question": "churn by month"}

    first = knowledge_context(**ask, table_names=["t_x", "t_y"])
    other = knowledge_context(**ask, table_names=["t_x", "t_z", "T_Y"])
    again = knowledge_context(**ask, table_names=["t_x", "t_y"])

    assert first.tables == again.tables == ["t_y"]
    assert other.tables == ["T_Y"]
    assert len(builds) == 1


def test_the_cache_keeps_the_recent_indexes_within_its_bound(
    alice, make_connection, builds, monkeypatch
):
    monkeypatch.setattr(index_module, "CACHE_MAX_POSTINGS", 1)
    index_cache.clear()
    first = make_connection(alice, "sqlite")
    second = make_connection(alice, "sqlite")
    for connection in (first, second):
        Example.objects.create(
            connection=connection, question="Revenue?", sql=REVENUE_SQL
        )

    assert REVENUE_SQL in _context(first)
    assert REVENUE_SQL in _context(second)
    assert REVENUE_SQL in _context(second)
    assert REVENUE_SQL in _context(first)

    assert builds == [first.id, second.id, first.id]


def test_deleting_a_connection_deletes_its_knowledge_and_marker(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "postgresql")
    base = f"/databases/{connection.id}/knowledge"
    alice_client.post(
        f"{base}/examples", {"question": "Q", "sql": "SELECT 1"}, format="json"
    )
    alice_client.post(f"{base}/instructions", {"text": "amt"}, format="json")

    response = alice_client.delete(f"/databases/{connection.id}")
    # The test's transaction is never committed: check deferred keys now.
    with db_connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    assert response.status_code == 204
    assert not Example.objects.exists()
    assert not KnowledgeVersion.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_many_questions_right_after_a_change_build_once(alice, make_connection, builds):
    connection = make_connection(alice, "sqlite")
    Example.objects.create(connection=connection, question="Revenue?", sql=REVENUE_SQL)
    start = threading.Barrier(8)
    texts: list[str] = []

    def ask() -> None:
        from django.db import connections

        try:
            start.wait()
            texts.append(_context(connection))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(texts) == 8
    assert all(REVENUE_SQL in text for text in texts)
    assert builds == [connection.id]
