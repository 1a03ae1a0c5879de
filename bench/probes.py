"""What the concurrency benches sample beside the askers: page probes (in a
process of their own), the database's connections, the workers' memory, and
a quiet machine before each measured window."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import psutil
import psycopg

from testsupport.serving import Gunicorn


def quiet_wait(*, busy_below: float = 25.0, limit_s: float = 60.0) -> float:
    """Wait until the cores are less than `busy_below` % busy over a second (at
    most `limit_s`); return how long it took.

    A cell right after a heavy one (N = 500) otherwise starts while the app
    database still vacuums and checkpoints what that one wrote, and measures
    that as well. The stub process also picks up a new delay meanwhile.
    """
    started = time.monotonic()
    while psutil.cpu_percent(interval=1.0) >= busy_below:
        if time.monotonic() - started > limit_s:
            break
    return time.monotonic() - started


async def _probe(
    base_url: str, token: str, until: float, cookie_page: str, out: dict
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        while time.monotonic() < until:
            for name, path in (
                ("session-status", "/databases/session-status"),
                ("threads", "/threads"),
            ):
                await _timed(client, name, path, {"headers": headers}, out)
            cookies = {"sessionid": cookie_page}
            await _timed(client, "chat page", "/", {"cookies": cookies}, out)
            await asyncio.sleep(0.1)


def probe_process(
    base_url: str, token: str, until: float, cookie_page: str, sender: Any
) -> None:
    """Run the probe in its own process and send back what it timed."""
    out: dict = {"session-status": [], "threads": [], "chat page": [], "errors": []}
    asyncio.run(_probe(base_url, token, until, cookie_page, out))
    sender.send(out)
    sender.close()


async def _timed(
    client: httpx.AsyncClient, name: str, path: str, kwargs: dict, out: dict
) -> None:
    started = time.monotonic()
    try:
        r = await client.get(path, **kwargs)
    except httpx.HTTPError as exc:
        out["errors"].append(f"{name} {type(exc).__name__}")
        return
    out[name].append((time.monotonic() - started) * 1000)
    if r.status_code != 200:
        out["errors"].append(f"{name} {r.status_code}")


def db_sampler(database_url: str, stop: threading.Event, peak: list[int]) -> None:
    name = database_url.rsplit("/", 1)[-1]
    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres") as conn:
        conn.autocommit = True
        while not stop.is_set():
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]
            ).fetchone()
            count = row[0] if row else 0
            peak[0] = max(peak[0], count)
            stop.wait(0.2)


def rss_mb(server: Gunicorn) -> float:
    total = 0
    for pid in server.worker_pids():
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20
