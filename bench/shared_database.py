"""The shared-database case of `make bench-concurrency`: one company database.

N users, each with their own account and their own connection record to the
SAME PostgreSQL database through a read-only role with a password
(`sqlagent_reader`, made by .ci/services.sh), ask at once against the README's
production gunicorn while the stub model answers each call after D s. Besides
throughput, errors and the page probes, `pg_stat_activity` is sampled for that
database: the peak of its connections during the run, and how many are still
open 5 s after the last ask ended.

Each pool scope runs in a gunicorn of its own: `database` (one pool per
database and process, TARGET_DB_MAX_CONNECTIONS) and `session` (a pool per
session, the design before issue 21), side by side. And each in two ways of
reaching that database: `own` (every user registered it themselves) and `team`
(an admin registered it once as a team connection; the others are members).

Alone: `python -m bench.shared_database --users 50`. `make bench-concurrency`
runs it after the N x D table (`bench.concurrency`).
"""

from __future__ import annotations

import argparse
import functools
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from bench.load import accounts_create
from testsupport.serving import (
    Client,
    Gunicorn,
    app_database_migrate,
    database_url_derived,
    pg_database_ensure,
    serving_env,
)

READER = {"username": "sqlagent_reader", "password": "reader-pw"}
SCOPES = ("database", "session")
KINDS = ("own", "team")


@dataclass
class SharedRow:
    scope: str
    kind: str
    users: int
    delay_s: float
    asks_per_s: float
    ceiling: float
    ideal: float
    errors: int
    error_kinds: list[str]
    probe_p99_ms: dict[str, float]
    peak_connections: int
    open_after_5s: int


def _admin(url: str, dbname: str) -> psycopg.Connection:
    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        dbname=dbname,
        autocommit=True,
    )


def target_database_create(url: str) -> None:
    """Create the shared database afresh: the marker the stub model asks for,
    readable by the reader role (and nothing else)."""
    pg_database_ensure(url, fresh=True)
    name = urlsplit(url).path.lstrip("/")
    with _admin(url, name) as conn:
        conn.execute("CREATE TABLE db_marker (marker TEXT NOT NULL)")
        conn.execute("INSERT INTO db_marker VALUES ('marker-shared')")
        conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO {READER["username"]}')
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {READER['username']}")
        conn.execute(f"GRANT SELECT ON db_marker TO {READER['username']}")


def target_connections(url: str) -> int:
    """Return the connections the database has now (every role)."""
    name = urlsplit(url).path.lstrip("/")
    with _admin(url, "postgres") as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]
        ).fetchone()
    return int(row[0]) if row else 0


def _connection_fields(target_url: str, label: str) -> dict[str, Any]:
    parts = urlsplit(target_url)
    return {
        "db_type": "postgresql",
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "database_name": parts.path.lstrip("/"),
        "username": READER["username"],
        "db_password": READER["password"],
        "label": label,
    }


def _as_users(
    base_url: str, work: list[tuple[str, Callable[[Client], object]]]
) -> None:
    """Run each `(token, act)`: `act(client)` with a client holding that token,
    eight at a time."""

    def one(item: tuple[str, Callable[[Client], object]]) -> None:
        token, act = item
        client = Client(base_url)
        client.token = token
        try:
            act(client)
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, work))


def sessions_connect(base_url: str, tokens: list[str], target_url: str) -> None:
    """Give each user a connection record of their own to the shared database,
    and connect their session to it (through the API, as a user would)."""

    def register(label: str) -> Callable[[Client], object]:
        return lambda client: client.connect(_connection_fields(target_url, label))

    _as_users(
        base_url,
        [
            (token, register(f"company database ({i})"))
            for i, token in enumerate(tokens)
        ],
    )


def sessions_connect_team(
    base_url: str, users: list[dict[str, Any]], target_url: str
) -> None:
    """The team way: the first user makes a team, adds every other user as an
    analyst and registers the database once as the team's connection; every
    member connects their own session to that one record."""
    admin = Client(base_url)
    admin.token = users[0]["token"]
    try:
        response = admin.post("/teams", {"name": f"bench {secrets.token_hex(3)}"})
        assert response.status_code == 201, response.text
        team_id = response.json()["id"]
        fields = {
            **_connection_fields(target_url, "company database"),
            "team_id": team_id,
        }
        response = admin.post("/databases/add_db_connection", fields)
        assert response.status_code == 201, response.text
        db_id = response.json()["db_connection"]["id"]
    finally:
        admin.close()

    def member_add(email: str) -> Callable[[Client], None]:
        def add(client: Client) -> None:
            response = client.post(
                f"/teams/{team_id}/members", {"email": email, "role": "analyst"}
            )
            assert response.status_code == 201, response.text

        return add

    def connect(client: Client) -> None:
        response = client.post(f"/databases/connect_db/{db_id}")
        assert response.status_code == 200, response.text

    _as_users(
        base_url, [(users[0]["token"], member_add(u["email"])) for u in users[1:]]
    )
    _as_users(base_url, [(u["token"], connect) for u in users])


def run(
    *,
    env: dict[str, str],
    users: list[dict[str, Any]],
    counts: list[int],
    delay_s: float,
    scopes: list[str],
    stub_delay_s: Any,
    seconds: float,
    workers: int,
    log_dir: Path,
    kinds: list[str] | tuple[str, ...] = KINDS,
) -> list[SharedRow]:
    """Measure every N of `counts` in each pool scope and for each kind of
    connection; `users[-1]` probes.

    Ideal is min(N / 2D, the CPU ceiling): the same N with an instant model on
    the first scope's server of that kind (one pool per database), measured
    just before; the other scope is compared with it.
    """
    from bench.concurrency import _page_cookie, measure

    target_url = database_url_derived("shared_target", env["DATABASE_URL"])
    target_database_create(target_url)
    probe = users[-1]
    tokens = [u["token"] for u in users[:-1]]
    cookie = _page_cookie(env, probe["email"])
    rows: list[SharedRow] = []
    ceilings: dict[tuple[str, int], float] = {}
    for kind, scope in [(k, s) for k in kinds for s in scopes]:
        server = Gunicorn(
            {**env, "TARGET_DB_POOL_SCOPE": scope}, workers=workers, log_dir=log_dir
        )
        server.env.pop("GUNICORN_THREADS")  # the production config's own
        try:
            server.start()
            if scope == scopes[0]:
                # Sessions live in the app database: connected once per kind,
                # served by each scope's server from their rows.
                if kind == "team":
                    sessions_connect_team(server.url, users, target_url)
                else:
                    sessions_connect(
                        server.url, [u["token"] for u in users], target_url
                    )
            measured = functools.partial(
                measure,
                server=server,
                stub_delay_s=stub_delay_s,
                database_url=target_url,
                probe_token=probe["token"],
                page_cookie=cookie,
            )
            # Warm up (discarded): every session's first ask builds its
            # engine and reads the catalog, which a server in use has done.
            measured(
                tokens=tokens[: max(counts)],
                delay_s=delay_s,
                seconds=max(5.0, 4 * delay_s),
            )
            time.sleep(5)
            for n in counts:
                print(
                    f"shared database: {kind} connections, scope={scope} N={n} "
                    f"D={delay_s:g} ...",
                    file=sys.stderr,
                    flush=True,
                )
                if (kind, n) not in ceilings:
                    # This server's own CPU ceiling at this N, measured right
                    # before (side by side): the N x D table's, minutes earlier,
                    # drifted with the machine by up to 40%.
                    ceilings[kind, n] = measured(
                        tokens=tokens[:n], delay_s=0.0, seconds=10.0
                    ).asks_per_s
                row = measured(tokens=tokens[:n], delay_s=delay_s, seconds=seconds)
                time.sleep(5)
                rows.append(
                    SharedRow(
                        scope=scope,
                        kind=kind,
                        users=n,
                        delay_s=delay_s,
                        asks_per_s=row.asks_per_s,
                        ceiling=ceilings[kind, n],
                        ideal=min(row.ideal, ceilings[kind, n]),
                        errors=row.errors,
                        error_kinds=row.error_kinds,
                        probe_p99_ms=row.probe_p99_ms,
                        peak_connections=row.peak_db_connections,
                        open_after_5s=target_connections(target_url),
                    )
                )
                print(table(rows[-1:]), file=sys.stderr, flush=True)
        finally:
            server.stop()
    return rows


def after_concurrency(
    args: Any,
    *,
    env: dict[str, str],
    users: list[dict[str, Any]],
    stub_delay_s: Any,
    work: Path,
) -> list[SharedRow]:
    """Run the case after `bench.concurrency`'s table, with its stub and
    accounts."""
    from bench.concurrency import _window_s

    counts = [int(n) for n in args.shared_users.split(",")]
    if len(users) <= max(counts):
        users = accounts_create(env, secrets.token_hex(3), max(counts) + 1)
    return run(
        env=env,
        users=users,
        counts=counts,
        delay_s=1.0,
        scopes=list(SCOPES),
        stub_delay_s=stub_delay_s,
        seconds=_window_s(args.seconds, 1.0, args.cycles),
        workers=args.workers,
        log_dir=work,
    )


def table(rows: list[SharedRow]) -> str:
    """Render the shared-database rows."""
    lines = [
        "| connection | pools | N | D s | asks/s | ceiling (D = 0) | ideal | ratio "
        "| errors | p99 ms session-status | conn. to the database: peak "
        "| open 5 s after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = r.asks_per_s / r.ideal if r.ideal not in (0, float("inf")) else 1.0
        lines.append(
            f"| {r.kind} | per {r.scope} | {r.users} | {r.delay_s:g} | "
            f"{r.asks_per_s:.1f} | {r.ceiling:.1f} | {r.ideal:.1f} | {ratio:.2f} | "
            f"{r.errors} | "
            f"{r.probe_p99_ms['session-status']:.0f} | {r.peak_connections} | "
            f"{r.open_after_5s} |"
        )
    notes = [
        f"- {r.kind}, per {r.scope} N={r.users} errors: " + ", ".join(r.error_kinds[:6])
        for r in rows
        if r.error_kinds
    ]
    return "\n".join(lines + (["", *notes] if notes else []))


def main(argv: list[str] | None = None) -> int:
    from bench.concurrency import _window_s
    from bench.stub_model import stub_start

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", default="50,200")
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--scopes", default=",".join(SCOPES))
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.users.split(",")]

    work = Path(tempfile.mkdtemp(prefix="sqlagent-shared-db-"))
    (work / "databases").mkdir()
    database_url = database_url_derived("shared")
    pg_database_ensure(database_url, fresh=True)
    stub, stub_delay_s, stub_url = stub_start()
    env = serving_env(
        database_url=database_url,
        sqlite_dir=work / "databases",
        llm_base_url=stub_url,
        LLM_TIMEOUT_S="60",
    )
    env.pop("GUNICORN_THREADS", None)
    try:
        app_database_migrate(env)
        users = accounts_create(env, secrets.token_hex(3), max(counts) + 1)
        rows = run(
            env=env,
            users=users,
            counts=counts,
            delay_s=args.delay,
            scopes=args.scopes.split(","),
            stub_delay_s=stub_delay_s,
            seconds=_window_s(args.seconds, args.delay, args.cycles),
            workers=args.workers,
            log_dir=work,
            kinds=args.kinds.split(","),
        )
    finally:
        stub.terminate()
    print(table(rows))
    print(f"\n{args.workers} workers, {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
