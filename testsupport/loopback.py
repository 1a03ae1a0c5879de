"""Serve a test's loopback HTTP server (LLM stubs, webhook receivers) from a
daemon thread.

`shutdown()` returns once `serve_forever` next looks at its stop flag, which it
does every `poll_interval`: at the default 0.5 s, stopping a stub at the end of
a test cost a quarter of a second on average, hundreds of times a run.
"""

from __future__ import annotations

import threading
from socketserver import BaseServer

POLL_INTERVAL_S = 0.02


def serve_in_thread(server: BaseServer) -> threading.Thread:
    """Start `server.serve_forever` in a daemon thread; stop it with shutdown()."""
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": POLL_INTERVAL_S},
        daemon=True,
    )
    thread.start()
    return thread
