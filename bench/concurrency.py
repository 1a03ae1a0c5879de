"""`make bench-concurrency`: N users all asking at once while the model takes D s.

Production serving (the README's gunicorn command and config, PostgreSQL app
database) against the OpenAI-compatible stub answering each call after D
seconds. Each of N users asks in a closed loop for a fixed time (asyncio
clients: the load generator stays cheap on a 2-core machine); meanwhile one
probe times GET /databases/session-status, GET /threads and the chat page, and
pg_stat_activity is sampled for the app database's connections.

The stub model and the probe each run in a process of their own: sharing the
askers' event loop (and its GIL), a probe timed its own client's queue behind
hundreds of responses as much as the server, and the stub answered late.

Ideal throughput is N / (2 D) asks/s (an ask is two model calls), bounded by the
service's own CPU ceiling: the same N with an instant model (D = 0).

Then (`--shared-users`, default 50 and 200) the same askers each register ONE
shared PostgreSQL database and ask on it, once per pool scope, counting that
database's connections (`bench/shared_database.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import shared_database
from bench.load import accounts_create, session_prepare, user_database_create
from bench.probes import db_sampler, probe_process, quiet_wait, rss_mb
from bench.stub_model import stub_start
from testsupport.serving import (
    Gunicorn,
    app_database_migrate,
    database_url_derived,
    pg_database_ensure,
    serving_env,
)

# The probe and the stub start clean (no copy of the askers' threads or loop).
_SPAWN = multiprocessing.get_context("spawn")


@dataclass
class Row:
    users: int
    delay_s: float
    asks_per_s: float
    ideal: float
    p50_ms: float
    p99_ms: float
    errors: int
    peak_db_connections: int
    probe_p99_ms: dict[str, float]
    rss_mb: float
    error_kinds: list[str]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _asker(
    client: httpx.AsyncClient, token: str, until: float, out: list, errors: list
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            r = await client.post(
                "/ask", json={"question": "marker please"}, headers=headers
            )
        except httpx.HTTPError as exc:
            errors.append(type(exc).__name__)
            continue
        if r.status_code == 200:
            out.append((time.monotonic(), (time.monotonic() - started) * 1000))
        else:
            errors.append(r.status_code)


async def _run(
    base_url: str, tokens: list[str], probe_token: str, page_cookie: str, seconds: float
) -> tuple[list, list, dict]:
    done: list = []
    errors: list = []
    until = time.monotonic() + seconds
    # CLOCK_MONOTONIC is system-wide: the probe process stops at the same time.
    receiver, sender = _SPAWN.Pipe(duplex=False)
    prober = _SPAWN.Process(
        target=probe_process,
        args=(base_url, probe_token, until, page_cookie, sender),
        daemon=True,
    )
    prober.start()
    # Idle connections are dropped before the server's 2 s keep-alive would
    # close them under the client (a browser retries such a request; httpx
    # does not, and the bench would count a request never sent as an error).
    limits = httpx.Limits(max_connections=len(tokens) + 10, keepalive_expiry=1.0)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=120, limits=limits
    ) as client:
        await asyncio.gather(*(_asker(client, t, until, done, errors) for t in tokens))
    probes = receiver.recv()
    prober.join()
    return done, errors, probes


def measure(
    *,
    server: Gunicorn,
    stub_delay_s: Any,
    database_url: str,
    tokens: list[str],
    probe_token: str,
    page_cookie: str,
    delay_s: float,
    seconds: float,
) -> Row:
    """Run N = len(tokens) closed-loop askers for `seconds` with the model at D."""
    stub_delay_s.value = delay_s
    quiet_wait()  # the last cell's aftermath (autovacuum, checkpoint) is not this one's
    stop = threading.Event()
    peak = [0]
    sampler = threading.Thread(
        target=db_sampler, args=(database_url, stop, peak), daemon=True
    )
    sampler.start()
    rss_before = rss_mb(server)
    started = time.monotonic()
    done, errors, probes = asyncio.run(
        _run(server.url, tokens, probe_token, page_cookie, seconds)
    )
    elapsed = time.monotonic() - started
    rss_after = rss_mb(server)
    stop.set()
    sampler.join()
    # Count what finished inside the window the askers were started for.
    window = [ms for _, ms in done]
    users = len(tokens)
    return Row(
        users=users,
        delay_s=delay_s,
        asks_per_s=len(window) / elapsed,
        ideal=users / (2 * delay_s) if delay_s else float("inf"),
        p50_ms=_pct(window, 0.5),
        p99_ms=_pct(window, 0.99),
        errors=len(errors) + len(probes["errors"]),
        error_kinds=sorted({str(e) for e in [*errors, *probes["errors"]]}),
        peak_db_connections=peak[0],
        probe_p99_ms={k: _pct(v, 0.99) for k, v in probes.items() if k != "errors"},
        rss_mb=rss_after - rss_before,
    )


def _window_s(seconds: float, delay_s: float, cycles: int) -> float:
    """How long the askers run: `seconds`, but at least `cycles` asks' model time.

    All N asks start at the same moment, so their model rounds first end
    together and their CPU work lands in one burst; it spreads out over the next
    rounds. A window of two or three asks measured mostly that start (N = 200,
    D = 3: 0.64 of ideal over 15 s, 0.85 over 60 s in the same build).
    """
    if not delay_s:
        return min(seconds, 10)  # the CPU ceiling: no rounds to wait for
    return max(seconds, cycles * 2 * delay_s)


def table(rows: Iterable[Row], ceilings: dict[int, float]) -> str:
    """Render the N x D table (ratio to min(N / 2D, CPU ceiling at that N))."""
    lines = [
        "| N | D s | asks/s | ideal | ratio | p50 / p99 ms | errors | peak app-DB "
        "conn. | p99 ms session-status / threads / chat page | RSS growth MB |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---|---:|",
    ]
    rows = list(rows)
    for r in rows:
        ceiling = ceilings.get(r.users, float("inf"))
        ideal = min(r.ideal, ceiling)
        ratio = r.asks_per_s / ideal if ideal and ideal != float("inf") else 1.0
        p = r.probe_p99_ms
        lines.append(
            f"| {r.users} | {r.delay_s:g} | {r.asks_per_s:.1f} | {ideal:.1f} | "
            f"{ratio:.2f} | {r.p50_ms:.0f} / {r.p99_ms:.0f} | {r.errors} | "
            f"{r.peak_db_connections} | {p['session-status']:.0f} / "
            f"{p['threads']:.0f} / {p['chat page']:.0f} | {r.rss_mb:.0f} |"
        )
    notes = [
        f"- N={r.users} D={r.delay_s:g} errors: " + ", ".join(r.error_kinds[:6])
        for r in rows
        if r.error_kinds
    ]
    return "\n".join(lines + (["", *notes] if notes else []))


def _page_cookie(env: dict[str, str], email: str) -> str:
    """Log the probe user in for the browser (a session row, no password round)."""
    os.environ.update(env)
    from django.contrib.auth import get_user_model
    from django.test import Client as DjangoClient

    browser = DjangoClient()
    browser.force_login(get_user_model().objects.get(email=email))
    return browser.cookies["sessionid"].value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", default="10,50,200,500")
    parser.add_argument("--delays", default="1,3")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--cycles",
        type=int,
        default=10,
        help="with a slow model, run at least this many asks' time (2 D each)",
    )
    parser.add_argument(
        "--shared-users",
        default="50,200",
        help="then N users on ONE PostgreSQL database, per pool scope ('' skips)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the served app (repeatable), e.g. ASK_CPU_SLOTS=0",
    )
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.users.split(",")]
    delays = [float(d) for d in args.delays.split(",")]

    work = Path(tempfile.mkdtemp(prefix="sqlagent-concurrency-"))
    sqlite_dir = work / "databases"
    sqlite_dir.mkdir()
    database_url = database_url_derived("concurrency")
    pg_database_ensure(database_url, fresh=True)
    stub, stub_delay_s, stub_base_url = stub_start()
    env = serving_env(
        database_url=database_url,
        sqlite_dir=sqlite_dir,
        llm_base_url=stub_base_url,
        LLM_TIMEOUT_S="60",
    )
    overrides = dict(item.split("=", 1) for item in args.env)
    env.update(overrides)
    # The README's production gunicorn: its config's defaults, not test sizes.
    env.pop("GUNICORN_THREADS", None)
    app_database_migrate(env)
    most = max(counts) + 1
    databases = [user_database_create(sqlite_dir, i) for i in range(most)]
    users = accounts_create(env, secrets.token_hex(3), most)
    server = Gunicorn(env, workers=args.workers, log_dir=work)
    server.env.pop("GUNICORN_THREADS")
    server.env.update(overrides)  # a variant may set GUNICORN_THREADS too
    rows: list[Row] = []
    ceilings: dict[int, float] = {}
    try:
        server.start()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(
                pool.map(
                    lambda i: session_prepare(
                        server.url, users[i]["token"], i, databases[i][0]
                    ),
                    range(most),
                )
            )
        probe, askers = users[-1], users[:-1]
        cookie = _page_cookie(env, probe["email"])
        for n in counts:
            tokens = [u["token"] for u in askers[:n]]
            for delay in [0.0, *delays]:
                print(
                    f"concurrency: N={n} D={delay:g} ...", file=sys.stderr, flush=True
                )
                row = measure(
                    server=server,
                    stub_delay_s=stub_delay_s,
                    database_url=database_url,
                    tokens=tokens,
                    probe_token=probe["token"],
                    page_cookie=cookie,
                    delay_s=delay,
                    seconds=_window_s(args.seconds, delay, args.cycles),
                )
                if delay == 0:
                    ceilings[n] = row.asks_per_s
                rows.append(row)
                print(table([row], ceilings), file=sys.stderr, flush=True)
    finally:
        server.stop()
    shared_rows = []
    try:
        if args.shared_users:
            shared_rows = shared_database.after_concurrency(
                args,
                env=env,
                users=users,
                stub_delay_s=stub_delay_s,
                work=work,
            )
    finally:
        stub.terminate()
    print(table(rows, ceilings))
    if shared_rows:
        print("\nOne shared PostgreSQL database (bench/shared_database.py):\n")
        print(shared_database.table(shared_rows))
    print(
        f"\n{args.workers} workers, {os.cpu_count()} cores; median asks/s "
        f"{statistics.median(r.asks_per_s for r in rows):.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
