"""7. What 10,000 verified examples on a connection add to each /ask.

A connection with no knowledge and one with 10,000 examples (the default cap)
are asked in turn, side by side in one run, through /ask with an instant model in
process (row 1a's set-up), so the difference is retrieval's own cost. The index
is built once per change of the knowledge: its build time is reported apart.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from bench.common import median, p95, timed
from bench.overhead import REPEAT, WARMUP, _ask_and_direct, _instant_model_in_process

EXAMPLES = 10_000
QUESTIONS = [
    ("How many {w} orders did {c} place in {m}?", "SELECT COUNT(*) FROM orders"),
    (
        "What is the total revenue from {w} customers in {m}?",
        "SELECT SUM(o.total) FROM orders o JOIN customers c ON c.id = o.customer_id",
    ),
    ("Which {w} notes mention {c}?", "SELECT body FROM notes WHERE body LIKE '%{c}%'"),
    (
        "List the {w} customers of {c} by name",
        "SELECT name FROM customers ORDER BY name",
    ),
    (
        "Average order value for {c} in {m}, {w} only",
        "SELECT AVG(total) FROM orders WHERE created >= '2024-01-01'",
    ),
]
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]


def _examples(connection_id: int, count: int, seed: int = 7) -> None:
    """Add `count` varied examples at once, and mark the knowledge changed."""
    from knowledge.models import Example, ExampleSource
    from knowledge.versions import knowledge_changed

    rng = random.Random(seed)
    words = [f"segment{i}" for i in range(300)]
    cities = [f"city{i}" for i in range(500)]
    rows = []
    for i in range(count):
        question, sql = QUESTIONS[i % len(QUESTIONS)]
        fill = {
            "w": rng.choice(words),
            "c": rng.choice(cities),
            "m": rng.choice(MONTHS),
        }
        rows.append(
            Example(
                connection_id=connection_id,
                question=question.format(**fill),
                sql=sql.format(**fill),
                source=ExampleSource.IMPORT,
            )
        )
    Example.objects.bulk_create(rows, batch_size=1000)
    knowledge_changed(connection_id)


def measure(sqlite_dir: Path) -> dict[str, Any]:
    from connections.models import DatabaseConnection
    from knowledge.index import index_build
    from knowledge.retrieval import knowledge_context

    # Two users: one connection with no knowledge, one with 10,000 examples,
    # asked in turn so that both see the same load on the machine.
    ask_none, _, engine = _ask_and_direct(sqlite_dir, "bench-knowledge-none")
    ask_many, _, engine_many = _ask_and_direct(sqlite_dir, "bench-knowledge-many")
    engine_many.dispose()
    connections = {
        name: DatabaseConnection.objects.filter(
            owner__email__startswith=f"bench-knowledge-{name}"
        ).latest("pk")
        for name in ("none", "many")
    }
    tables = ("customers", "orders", "notes", "db_marker")

    def retrieve(name: str) -> None:
        knowledge_context(
            connection_id=connections[name].pk,
            question="How many?",
            table_names=tables,
        )

    many_id = connections["many"].pk
    spent: dict[str, list[float]] = {key: [] for key in ("none", "many")}
    retrieval: dict[str, list[float]] = {key: [] for key in ("none", "many")}
    with _instant_model_in_process():
        timed(ask_none, WARMUP)
        timed(ask_many, WARMUP)
        _examples(many_id, EXAMPLES)
        # The first question after the change builds the index; the rest reuse it.
        first_ms = timed(ask_many, 1)[0]
        timed(ask_many, WARMUP)
        for _ in range(REPEAT):
            spent["none"] += timed(ask_none, 1)
            spent["many"] += timed(ask_many, 1)
            retrieval["none"] += timed(lambda: retrieve("none"), 1)
            retrieval["many"] += timed(lambda: retrieve("many"), 1)
    build_ms = timed(lambda: index_build(connection_id=many_id, token="-"), 3)
    engine.dispose()
    return {
        "examples": EXAMPLES,
        "none_median": median(spent["none"]),
        "none_p95": p95(spent["none"]),
        "many_median": median(spent["many"]),
        "many_p95": p95(spent["many"]),
        "added_median": median(spent["many"]) - median(spent["none"]),
        "none_retrieval_median": median(retrieval["none"]),
        "many_retrieval_median": median(retrieval["many"]),
        "first_ask_ms": first_ms,
        "build_ms": median(build_ms),
    }
