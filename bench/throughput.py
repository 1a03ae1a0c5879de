"""4. Throughput on gunicorn (2 workers): GET /databases/session-status against a
bare DRF endpoint with the same JWT authentication (/bench/noop), same load
generator (wrk), same connections, alternated."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.serving import Gunicorn

DURATION_S = 6
CONNECTIONS = 16


def wrk_ensure() -> str:
    """Return the wrk binary, installing Debian's package if it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    as_root = (
        []
        if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip()
        == "0"
        else ["sudo"]
    )
    subprocess.run([*as_root, "apt-get", "install", "-y", "-qq", "wrk"], check=False)
    found = shutil.which("wrk")
    if not found:
        subprocess.run([*as_root, "apt-get", "update", "-qq"], check=False)
        subprocess.run([*as_root, "apt-get", "install", "-y", "-qq", "wrk"], check=True)
        found = shutil.which("wrk")
    assert found, "wrk could not be installed"
    return found


def _wrk(wrk: str, url: str, token: str, seconds: int) -> dict[str, float]:
    done = subprocess.run(
        [
            wrk,
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    out = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}
    return {
        "rps": rps,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(0) if errors else "",
        "p50_ms": float(p50.group(1)) * scale[p50.group(2)] if p50 else 0.0,
    }


def measure(env: dict[str, str], token: str, log_dir: Path) -> dict[str, Any]:
    wrk = wrk_ensure()
    server = Gunicorn({**env, "LOG_LEVEL": "INFO"}, workers=2, log_dir=log_dir)
    try:
        server.start()
        urls = {
            "status": f"{server.url}/databases/session-status",
            "noop": f"{server.url}/bench/noop",
        }
        for url in urls.values():
            _wrk(wrk, url, token, 2)  # warm both workers
        runs: dict[str, list[dict[str, float]]] = {"status": [], "noop": []}
        for _ in range(2):
            for name, url in urls.items():
                runs[name].append(_wrk(wrk, url, token, DURATION_S))
    finally:
        server.stop()
    result = {}
    for name, samples in runs.items():
        result[name] = {
            "rps": sum(s["rps"] for s in samples) / len(samples),
            "p50_ms": sum(s["p50_ms"] for s in samples) / len(samples),
            "errors": sum(s["non_2xx"] for s in samples),
        }
    return result
