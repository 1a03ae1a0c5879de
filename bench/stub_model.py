"""The stub model of the concurrency benches, in a process of its own.

Sharing the askers' event loop (and its GIL), the stub answered late; its delay
follows a shared value the bench sets between cells.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

from testsupport.llm_stub import StubLLMServer, keyword_responder

# Starts clean (no copy of the askers' threads or loop).
_SPAWN = multiprocessing.get_context("spawn")


def stub_start() -> tuple[Any, Any, str]:
    """Start the stub model in its own process; return it, its delay, its URL."""
    delay_s = _SPAWN.Value("d", 0.0)
    ready, ready_sender = _SPAWN.Pipe(duplex=False)
    process = _SPAWN.Process(
        target=_stub_process, args=(delay_s, ready_sender), daemon=True
    )
    process.start()
    return process, delay_s, ready.recv()


def _stub_process(delay_s: Any, ready: Any) -> None:
    """Serve the stub model in its own process; its delay follows `delay_s`."""
    stub = StubLLMServer(
        responder=keyword_responder(
            rules=(), default_sql="SELECT marker FROM db_marker"
        ),
        keep_requests=False,
    ).start()
    ready.send(stub.base_url)
    while True:
        stub.delay_s = delay_s.value
        time.sleep(0.05)
