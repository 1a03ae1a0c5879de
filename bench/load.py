"""`make load`: a bounded load run of 50 users against gunicorn (2 workers).

Every user gets their own account, their own SQLite database (holding a marker
row nobody else has), a connection and a session; locust (headless, loopback
only, fixed duration) then mixes session-status, /ask (stub LLM) and thread
reads. Prints requests/s, p50/p95/p99 and errors, checks that every answer came
from the user's own database, and exits non-zero on any error or leak.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from testsupport.llm_stub import StubLLMServer, keyword_responder
from testsupport.serving import (
    ROOT,
    Client,
    Gunicorn,
    app_database_migrate,
    database_url_derived,
    pg_database_ensure,
    serving_env,
)

PASSWORD = "Load-Test-Pw-42"
MARKER = re.compile(r"marker-[0-9a-f]{8}")


def user_database_create(folder: Path, index: int) -> tuple[str, str]:
    """Create a small SQLite database with a marker row; return (file, marker)."""
    marker = f"marker-{secrets.token_hex(4)}"
    name = f"user{index:03d}.sqlite3"
    conn = sqlite3.connect(folder / name)
    try:
        conn.execute("CREATE TABLE db_marker (marker TEXT NOT NULL)")
        conn.execute("INSERT INTO db_marker VALUES (?)", [marker])
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)")
        conn.executemany(
            "INSERT INTO items VALUES (?, ?)",
            [(i, f"item {i} of user {index}") for i in range(1, 51)],
        )
        conn.commit()
    finally:
        conn.close()
    return name, marker


def accounts_create(env: dict[str, str], run_id: str, count: int) -> list[dict]:
    """Create `count` users in the app database; return their emails and tokens.

    Straight through the ORM with one shared password hash and minted JWTs: 100
    PBKDF2 rounds through /auth/register and /auth/login would take most of a
    minute on two cores and measure nothing this run is about.
    """
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.models import User

    encoded = make_password(PASSWORD)
    users = User.objects.bulk_create(
        User(email=f"load-{run_id}-{i:03d}@example.com", password=encoded)
        for i in range(count)
    )
    return [
        {"email": u.email, "token": str(RefreshToken.for_user(u).access_token)}
        for u in users
    ]


def session_prepare(base_url: str, token: str, index: int, name: str) -> str:
    """Add the user's connection through the API and connect the session to it."""
    client = Client(base_url)
    client.token = token
    try:
        return client.connect(
            {"db_type": "sqlite", "database_name": name, "label": f"user {index}"}
        )
    finally:
        client.close()


def aggregated(stats_csv: Path) -> dict[str, dict[str, str]]:
    with stats_csv.open() as f:
        rows = list(csv.DictReader(f))
    return {row["Name"]: row for row in rows}


def threads_verify(base_url: str, accounts: list[dict]) -> tuple[int, int, int]:
    """Read every user's thread back: return (turns, leaks, missing markers)."""
    turns = leaks = missing = 0
    for account in accounts:
        client = Client(base_url)
        client.token = account["token"]
        response = client.get(f"/threads/{account['session_id']}")
        client.close()
        if response.status_code == 404:
            continue
        for turn in response.json()["turns"]:
            turns += 1
            seen = set(MARKER.findall(json.dumps(turn)))
            if seen - {account["marker"]}:
                leaks += 1
            elif turn["status"] == "ok" and account["marker"] not in seen:
                missing += 1
    return turns, leaks, missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", default="30s")
    parser.add_argument("--workers", type=int, default=2)
    # A model that takes its time, as real ones do (0 = instant).
    parser.add_argument("--llm-delay", type=float, default=1.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sqlagent-load-"))
    sqlite_dir = work / "databases"
    sqlite_dir.mkdir()
    database_url = database_url_derived("load")
    pg_database_ensure(database_url, fresh=True)
    run_id = secrets.token_hex(3)
    stub = StubLLMServer(
        responder=keyword_responder(
            rules=(), default_sql="SELECT marker FROM db_marker"
        ),
        delay_s=args.llm_delay,
    ).start()
    env = serving_env(
        database_url=database_url, sqlite_dir=sqlite_dir, llm_base_url=stub.base_url
    )
    print(f"load: migrating {database_url.rsplit('/', 1)[-1]} ...", flush=True)
    app_database_migrate(env)
    server = Gunicorn(env, workers=args.workers, log_dir=work)
    # The production config's thread count, not the test helper's small one.
    server.env.pop("GUNICORN_THREADS")
    try:
        server.start()
        print(f"load: gunicorn on {server.url}, {args.workers} workers", flush=True)
        started = time.monotonic()
        databases = [user_database_create(sqlite_dir, i) for i in range(args.users)]
        users = accounts_create(env, run_id, args.users)
        with ThreadPoolExecutor(max_workers=8) as pool:
            sessions = list(
                pool.map(
                    lambda i: session_prepare(
                        server.url, users[i]["token"], i, databases[i][0]
                    ),
                    range(args.users),
                )
            )
        accounts = [
            {**users[i], "session_id": sessions[i], "marker": databases[i][1]}
            for i in range(args.users)
        ]
        print(
            f"load: {args.users} accounts, databases and sessions ready "
            f"in {time.monotonic() - started:.1f} s",
            flush=True,
        )
        accounts_file = work / "accounts.json"
        accounts_file.write_text(json.dumps(accounts))
        csv_prefix = work / "locust"
        locust = subprocess.run(
            [
                str(ROOT / ".venv/bin/locust"),
                "-f",
                str(ROOT / "bench/locustfile.py"),
                "--headless",
                "--users",
                str(args.users),
                "--spawn-rate",
                str(args.users),
                "--run-time",
                args.duration,
                "--stop-timeout",
                "20",
                "--host",
                server.url,
                "--csv",
                str(csv_prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env={**env, "SQLAGENT_LOAD_ACCOUNTS": str(accounts_file)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        stats = aggregated(Path(f"{csv_prefix}_stats.csv"))
        with Path(f"{csv_prefix}_failures.csv").open() as f:
            failures = list(csv.DictReader(f))
        turns, thread_leaks, missing = threads_verify(server.url, accounts)
    finally:
        server.stop()
        stub.stop()

    leaks = thread_leaks + sum(
        int(f["Occurrences"]) for f in failures if f["Error"].startswith("LEAK")
    )
    total = stats["Aggregated"]
    errors = int(total["Failure Count"])
    lines = [
        "| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in stats.items():
        lines.append(
            f"| {row['Type']} {name} | {row['Request Count']} | "
            f"{float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | "
            f"{row['99%']} | {row['Failure Count']} |".replace("|  Aggregated", "| all")
        )
    print()
    print(
        f"make load: {args.users} users, {args.duration}, gunicorn "
        f"{args.workers} workers, stub LLM answering after {args.llm_delay:g} s"
    )
    print("\n".join(lines))
    print(
        f"\nerrors: {errors}   cross-user leaks: {leaks}   "
        f"turns read back: {turns} (without own marker: {missing})   "
        f"LLM requests: {len(stub.requests)}"
    )
    for failure in failures[:10]:
        print(f"  failure: {failure['Method']} {failure['Name']}: {failure['Error']}")
    if locust.returncode not in (0, 1):
        print(locust.stdout[-2000:], locust.stderr[-3000:])
    ok = errors == 0 and leaks == 0 and missing == 0 and turns > 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
