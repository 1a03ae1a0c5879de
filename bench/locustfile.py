"""Locust users for `make load`: each logs in as its own account (prepared by
bench/load.py), then mixes session-status, /ask and thread reads, and fails any
answer that shows another user's database marker."""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

from locust import HttpUser, between, task

MARKER = re.compile(r"marker-[0-9a-f]{8}")
ACCOUNTS = json.loads(Path(os.environ["SQLAGENT_LOAD_ACCOUNTS"]).read_text())
_next = itertools.count()
_lock = threading.Lock()
QUESTIONS = ("What is the marker?", "Which marker does this database hold?")


class ServiceUser(HttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        with _lock:
            self.account = ACCOUNTS[next(_next) % len(ACCOUNTS)]
        self.headers = {"Authorization": f"Bearer {self.account['token']}"}
        self.marker = self.account["marker"]

    def _check_markers(self, response: Any, *, required: bool) -> None:
        seen = set(MARKER.findall(response.text))
        foreign = seen - {self.marker}
        if foreign:
            response.failure(f"LEAK: saw {sorted(foreign)} instead of {self.marker}")
        elif required and self.marker not in seen:
            response.failure("answer without the user's own marker")

    @task(3)
    def session_status(self) -> None:
        with self.client.get(
            "/databases/session-status", headers=self.headers, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            elif response.json().get("session_id") != self.account["session_id"]:
                response.failure("LEAK: another session")

    @task(2)
    def ask(self) -> None:
        question = QUESTIONS[next(_next) % len(QUESTIONS)]
        with self.client.post(
            "/ask",
            json={"question": question},
            headers=self.headers,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
            else:
                self._check_markers(response, required=True)

    @task(2)
    def thread_read(self) -> None:
        with self.client.get(
            f"/threads/{self.account['session_id']}",
            headers=self.headers,
            name="/threads/[id]",
            catch_response=True,
        ) as response:
            if response.status_code == 404:
                response.success()  # no question asked yet: no thread
            elif response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            else:
                self._check_markers(response, required=False)

    @task(1)
    def thread_list(self) -> None:
        with self.client.get(
            "/threads", headers=self.headers, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            else:
                self._check_markers(response, required=False)
