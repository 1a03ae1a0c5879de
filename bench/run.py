# ruff: noqa: RUF001
"""`make bench`: five measurements, each side by side with its reference in the
same run, printed as one table and saved to bench/results/latest.md."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import django_setup, user_with_token
from testsupport.llm_stub import StubLLMServer
from testsupport.serving import ROOT

RESULTS = ROOT / "bench" / "results" / "latest.md"


def _step(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _ok(met: bool) -> str:
    return "yes" if met else "**no**"


def main() -> int:
    warnings.filterwarnings("ignore")
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="sqlagent-bench-"))
    sqlite_dir = work / "databases"
    sqlite_dir.mkdir()
    stub = StubLLMServer().start()
    _step("migrating the bench app database")
    env = django_setup(sqlite_dir=sqlite_dir, llm_base_url=stub.base_url)

    from bench import (
        knowledge_cost,
        memory,
        overhead,
        prompt_cost,
        schema_linking,
        schemas,
        throughput,
        value_recall,
    )

    rows: list[tuple[str, str, str, str, str, str]] = []

    _step("1/5 /ask overhead")
    o = overhead.measure(stub, sqlite_dir, profile=True)
    d = overhead.measure_default_config(sqlite_dir)
    rows.append(
        (
            "1. /ask overhead, all SQLite as `make run` sets it up (app database "
            "too), instant LLM in process (median / p95)",
            f"/ask {d['ask_median']:.1f} / {d['ask_p95']:.1f} ms",
            f"same query via SQLAlchemy {d['direct_median']:.2f} / "
            f"{d['direct_p95']:.2f} ms",
            f"+{d['added_median']:.1f} / +{d['added_p95']:.1f} ms added",
            "< 10 ms added (median)",
            _ok(d["added_median"] < 10),
        )
    )
    rows.append(
        (
            "1a. the same with a PostgreSQL app database (production set-up)",
            f"/ask {o['local_median']:.1f} / {o['local_p95']:.1f} ms",
            f"same query via SQLAlchemy {o['direct_median']:.2f} / "
            f"{o['direct_p95']:.2f} ms",
            f"+{o['local_added_median']:.1f} / +{o['local_added_p95']:.1f} ms added",
            "(reported)",
            "—",
        )
    )
    rows.append(
        (
            "1b. PostgreSQL app database, through ChatOpenAI over HTTP to the "
            "instant stub",
            f"/ask {o['ask_median']:.1f} / {o['ask_p95']:.1f} ms",
            f"same query via SQLAlchemy {o['direct_median']:.2f} / "
            f"{o['direct_p95']:.2f} ms",
            f"+{o['added_median']:.1f} / +{o['added_p95']:.1f} ms added",
            "(reported; see the breakdown)",
            "—",
        )
    )

    _step("1c /ask with 10,000 verified examples")
    k = knowledge_cost.measure(sqlite_dir)
    rows.append(
        (
            f"1c. /ask with {k['examples']:,} verified examples on the connection "
            "(the default cap), as 1a (median / p95)",
            f"/ask {k['many_median']:.1f} / {k['many_p95']:.1f} ms",
            f"a connection with none {k['none_median']:.1f} / {k['none_p95']:.1f} ms",
            f"+{k['added_median']:.1f} ms added (retrieval "
            f"{k['many_retrieval_median']:.1f} vs {k['none_retrieval_median']:.1f} "
            f"ms); index built once per change, {k['build_ms']:.0f} ms "
            f"(first ask after it {k['first_ask_ms']:.0f} ms)",
            "< 10 ms added (median)",
            _ok(k["added_median"] < 10),
        )
    )

    _step("1d value recall on Defog's questions (loading them the first time)")
    v = value_recall.measure()
    rows.append(
        (
            "1d. value recall: Defog's 314 PostgreSQL questions (11 databases), "
            "those whose gold SQL compares a column with a text the question "
            "contains: all such texts named by the value matches before the "
            "first model call",
            f"{v['named']} / {v['with_literals']} = {v['recall']:.0%}",
            "(no value lookup: 0)",
            f"index {v['index_values']:,} values of {v['index_columns']} columns, "
            f"{v['index_bytes'] / 1024:.0f} KB, built in "
            f"{v['build_ms_total'] / 1000:.1f} s; matching "
            f"{v['match_ms_median']:.1f} ms a question (median); misses are LIKE "
            "fragments and many-valued columns",
            "≥ 90%",
            _ok((v["recall"] or 0) >= 0.9),
        )
    )

    _step("1e schema linking on Defog's questions padded to 2,000 and 10,000 tables")
    s = schema_linking.measure()
    for size, target in (("2000", 0.95), ("10000", 0.90)):
        r = s[size]
        rows.append(
            (
                f"1e. schema linking: Defog's 314 questions, each database padded "
                f"with distractors to {int(size):,} tables: every gold table "
                "described with its columns in the first request; its schema "
                "tokens (median / max)",
                f"{r['all_gold_described']} / {r['questions']} = {r['recall']:.0%}; "
                f"{r['schema_tokens_median']:,} / {r['schema_tokens_max']:,} tokens",
                f"SQLDatabaseToolkit agent: {r['toolkit_recall']:.0%} (its first "
                f"request has no schema; its table list is "
                f"{r['toolkit_list_tokens_median']:,} tokens)",
                f"linking {r['linking_ms_median']:.0f} ms a question (median); "
                f"described tables {r['described_tokens_median']:,} tokens "
                "(median), the rest is the cut table list",
                f"≥ {target:.0%}, < 4,000 tokens",
                _ok((r["recall"] or 0) >= target and r["schema_tokens_max"] < 4000),
            )
        )

    _step("2/5 2,000-table schemas (creating them the first time)")
    for r in schemas.measure(stub, sqlite_dir):
        ratio = r["langchain_ms"] / r["ours_ms"]
        rows.append(
            (
                f"2. 2,000 tables, {r['engine']}: connect + first /ask",
                f"{r['ours_ms']:.0f} ms",
                f"`SQLDatabase(engine)` {r['langchain_ms']:.0f} ms",
                f"{ratio:.1f}× faster",
                "≥ 20×",
                _ok(ratio >= 20),
            )
        )

    _step("3/5 big results")
    pg_name = urlsplit(schemas.pg_wide_url()).path.lstrip("/")
    mem = memory.measure(pg_name, schemas.sqlite_wide_file(sqlite_dir))
    for engine in ("postgresql", "sqlite"):
        samples = [m for m in mem if m["engine"] == engine]
        traced = " / ".join(f"{m['traced_peak_mb']:.2f}" for m in samples)
        rss = " / ".join(f"{m['rss_growth_mb']:.1f}" for m in samples)
        times = " / ".join(f"{m['ms']:.0f}" for m in samples)
        flat = samples[-1]["traced_peak_mb"] <= samples[0]["traced_peak_mb"] * 1.5 + 0.5
        rows.append(
            (
                f"3. 10⁴ / 10⁵ / 10⁶-row query via run_query, {engine}",
                f"peak traced {traced} MB",
                f"RSS growth {rss} MB; {times} ms",
                "flat" if flat else "grows",
                "flat",
                _ok(flat),
            )
        )

    big = memory.measure_big_cell(pg_name)
    rows.append(
        (
            "3b. one 200 MB cell (SELECT repeat('x', 2e8)) via query_run, postgresql",
            f"cell returned {big['cell_bytes'] / 1024:.0f} KB (cap "
            f"{big['cap_bytes'] / 1024:.0f} KB), cut {big['cut_cells']}",
            f"RSS growth {big['rss_growth_mb']:.1f} MB; {big['ms']:.0f} ms",
            "flat" if big["rss_growth_mb"] < 50 else "grows",
            "< 50 MB",
            _ok(big["rss_growth_mb"] < 50),
        )
    )

    _step("4/5 throughput (gunicorn, 2 workers, wrk)")
    from connections.services import (
        connection_create,
        session_connect,
        session_get_or_create_active,
    )

    user, token = user_with_token("bench-throughput")
    from testsupport.fixtures import SQLITE_FILE

    connection = connection_create(
        owner=user, db_type="sqlite", database_name=SQLITE_FILE, host="", port=0
    )
    session_connect(
        session=session_get_or_create_active(user=user), connection=connection
    )
    from django.db import connections as django_connections

    django_connections.close_all()
    t = throughput.measure(env, token, work)
    ratio = t["ratio"]
    errors = t["status"]["errors"] + t["noop"]["errors"]
    repeated = t["status"]["repeated"] + t["noop"]["repeated"]
    rows.append(
        (
            "4. GET /databases/session-status, gunicorn 2 workers (wrk, 16 conn.)",
            f"{t['status']['rps']:.0f} req/s (p50 {t['status']['p50_ms']:.1f} ms)",
            f"bare DRF + JWT {t['noop']['rps']:.0f} req/s "
            f"(p50 {t['noop']['p50_ms']:.1f} ms)",
            f"{ratio:.2f} (median of {len(t['ratios'])} rounds: "
            + " / ".join(f"{r:.2f}" for r in t["ratios"])
            + ")"
            + (f"; {repeated} runs repeated, one worker idle" if repeated else "")
            + (f"; {errors} errors" if errors else ""),
            "≥ 0.5",
            _ok(ratio >= 0.5 and errors == 0),
        )
    )

    _step("5/5 prompt cost")
    for r in prompt_cost.measure(stub, sqlite_dir):
        anchor = (
            f" (anchor {r['anchor_calls']} calls, {r['anchor_tokens']:,})"
            if r["anchor_tokens"]
            else ""
        )
        met = r["ours_calls"] <= 2 and r["ours_tokens"] < min(
            r["toolkit_tokens"], r["anchor_tokens"] or r["toolkit_tokens"]
        )
        rows.append(
            (
                f"5. prompt cost per question, {r['tables']} tables",
                f"{r['ours_calls']} calls, {r['ours_tokens']:,} tokens "
                f"(largest request {r['ours_largest_request']:,})",
                f"SQL toolkit agent here {r['toolkit_calls']} calls, "
                f"{r['toolkit_tokens']:,} tokens{anchor}",
                f"{r['toolkit_tokens'] / r['ours_tokens']:.1f}× fewer tokens",
                "2 calls, fewer tokens",
                _ok(met),
            )
        )
    _step("streamed /ask, time to first event (gunicorn, slow stub)")
    from bench import streaming

    for r in streaming.measure(env, SQLITE_FILE, work):
        rows.append(
            (
                f"6. streamed /ask, model answering after {r['delay_s']:g} s a call: "
                "first event (p50 / max), one asker",
                f"{r['alone_p50_ms']:.0f} / {r['alone_max_ms']:.0f} ms",
                "same ask as JSON: first byte p50 "
                f"{r['plain_first_byte_p50_ms']:.0f} ms",
                f"{r['plain_first_byte_p50_ms'] / r['alone_p50_ms']:.0f}× sooner",
                "< 300 ms",
                _ok(r["alone_max_ms"] < 300),
            )
        )
        rows.append(
            (
                f"6a. the same, {r['askers']} askers at once ({r['asks']} asks), "
                "2 workers × 8 threads",
                f"{r['first_p50_ms']:.0f} / {r['first_max_ms']:.0f} ms "
                f"(done p50 {r['done_p50_ms']:.0f} ms)",
                "same asks as JSON: first byte p50 "
                f"{r['plain_first_byte_p50_ms']:.0f} ms",
                f"{r['plain_first_byte_p50_ms'] / r['first_p50_ms']:.0f}× sooner",
                "(reported)",
                "—",
            )
        )
    stub.stop()

    header = (
        "| measurement | SQLAgent | reference, same run | result | target | met |\n"
        "|---|---|---|---|---|---|"
    )
    table = header + "\n" + "\n".join("| " + " | ".join(r) + " |" for r in rows)
    breakdown = "\n".join(
        f"| {layer} | {ms:.1f} |" for layer, ms in overhead.breakdown_text(o["profile"])
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    report = (
        f"## make bench — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.monotonic() - began:.0f} s\n\n"
        f"{table}\n\n"
        "Where /ask's time goes in row 1b (PostgreSQL app database, ChatOpenAI "
        "over HTTP; mean ms per ask, wall clock, same run):\n\n"
        "| layer | ms |\n|---|---:|\n"
        f"{breakdown}\n\n"
        "Tokens are counted as the stub reports them (JSON of messages and tools, "
        "4 characters a token), the same way for both agents. The 200-table schema "
        "is over SCHEMA_PROMPT_TOKEN_BUDGET, so the prompt lists the tables and "
        "describes only the one the question names; a question that names no "
        "table costs one describe_tables call more (3 calls).\n"
    )
    _step("concurrency: N users at once, model answering after 1 s (short run)")
    concurrency = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.concurrency",
            "--users",
            "10,50",
            "--delays",
            "1",
            "--seconds",
            "10",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    report += (
        "\nConcurrency, short run (`make bench-concurrency` runs N = 10, 50, 200, "
        "500 x D = 1, 3):\n\n" + (concurrency.stdout or concurrency.stderr[-2000:])
    )
    print(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    _step(f"saved to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
