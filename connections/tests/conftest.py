"""Every HTTP response produced by a test in this folder is checked for secrets.

The password of a connection is write-only: whatever the route, the status or
the failure, no response body may contain it (nor its ciphertext). Rather than
trusting each test to remember the check, every request made through Django's
test client (which DRF's APIClient builds on) is checked here.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test.client import Client

from testsupport.fixtures import READER

# Passwords the tests in this folder use; none may ever reach a response.
WRONG_PASSWORD = "Wrong-Secret-pw-4711"
SECRETS: tuple[str, ...] = (READER["password"], WRONG_PASSWORD)


def assert_no_secret(content: bytes | str, *extra: str) -> None:
    """Fail if a known password (or one of `extra`) appears in `content`."""
    text = content.decode(errors="replace") if isinstance(content, bytes) else content
    for secret in (*SECRETS, *extra):
        if secret:
            assert secret not in text, f"a secret leaked into a response: {secret!r}"


@pytest.fixture(autouse=True)
def _responses_never_hold_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Client.request

    def checked_request(self: Client, **request: Any) -> Any:
        response = original(self, **request)
        if not getattr(response, "streaming", False):
            assert_no_secret(response.content)
        return response

    monkeypatch.setattr(Client, "request", checked_request)
