"""The production gunicorn config: what it does to each worker's Python."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]

# Load the config as gunicorn does (a plain module, run from its path), call the
# master's and a worker's hooks, and report the collector's state.
_PROBE = """
import gc, json, runpy
config = runpy.run_path("sqlagent_project/gunicorn.conf.py")
before = gc.get_freeze_count()
config["when_ready"](None)
config["post_fork"](None, None)
print(json.dumps({"thresholds": gc.get_threshold(),
                  "frozen": gc.get_freeze_count() - before}))
"""


def _hooks_applied(**env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=BASE_DIR,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def test_workers_collect_garbage_with_a_large_young_generation_by_default():
    applied = _hooks_applied()

    assert applied["thresholds"] == [10000, 10, 10]
    # What the master had loaded before forking is frozen, never collected again.
    assert applied["frozen"] > 1000


def test_gc_thresholds_come_from_the_environment():
    assert _hooks_applied(GC_THRESHOLDS="2000,20,5")["thresholds"] == [2000, 20, 5]


def test_empty_gc_thresholds_keep_pythons_own():
    assert _hooks_applied(GC_THRESHOLDS="")["thresholds"] == [700, 10, 10]
