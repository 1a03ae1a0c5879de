"""Which pytest-xdist worker this process is, and the names it keeps to itself.

`make test-fast` runs the suite in several worker processes at once. Anything a
test creates outside its own process (target databases, roles, the app
databases of served instances, a Redis db it empties) is named per worker, so
two workers never see each other's. pytest-django suffixes the app's test
database itself (test_sqlagent_gw0…).
"""

from __future__ import annotations

import os

# "gw0", "gw1"… in an xdist worker; "" in a plain (serial) run. xdist sets it
# in the worker's environment before any test module is imported.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")

# Redis db numbers a worker may empty (flushdb) as its Celery broker: one each.
# 12 belongs to the worker-steps test and 15 to the cache tests (under prefixes).
BROKER_DBS = (13, 14, 11, 10, 9, 8, 7, 6)


def worker_index() -> int:
    """0 for gw0 and for a serial run, 1 for gw1, and so on."""
    return int(WORKER.removeprefix("gw")) if WORKER else 0


def worker_suffixed(name: str) -> str:
    """`name` in a serial run, `name_gw1` in worker gw1."""
    return f"{name}_{WORKER}" if WORKER else name


def broker_db() -> int:
    """This worker's own Redis db number for a broker it may empty."""
    index = worker_index()
    if index >= len(BROKER_DBS):
        raise RuntimeError(
            f"at most {len(BROKER_DBS)} xdist workers have a Redis broker db "
            f"of their own; run with -n {len(BROKER_DBS)} or fewer"
        )
    return BROKER_DBS[index]
