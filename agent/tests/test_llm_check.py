"""`python manage.py llm_check` and the admin's LLM check: probes against the
OpenAI-compatible stub answering as servers of each kind do."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.management import call_command

from agent.llm.text_protocol import protocol_memory
from testsupport.llm_shapes import shaped_responder
from testsupport.llm_stub import StubReply
from testsupport.loopback import serve_in_thread

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _protocols_forgotten() -> Iterator[None]:
    protocol_memory.forget()
    yield
    protocol_memory.forget()


def _check() -> str:
    out = io.StringIO()
    call_command("llm_check", stdout=out)
    return out.getvalue()


def _native_or_prose(body: dict[str, Any]) -> StubReply:
    if body.get("tools"):
        return StubReply(tool_calls=[("run_query", {"sql": "SELECT 1"})])
    return StubReply(content="OK, one two three four five")


def test_a_model_with_tool_calling_is_usable_natively(llm_stub):
    llm_stub.responder = _native_or_prose

    out = _check()

    assert "Reachable: yes" in out
    assert "model: gpt-4.1-mini (server says stub-model)" in out
    assert "Tool calling: native" in out
    assert "Streaming: yes" in out
    assert "Verdict: Usable: native tool calling." in out


def test_a_server_refusing_tools_is_usable_in_text_mode(llm_stub, settings):
    settings.LLM_TOOL_PROTOCOL = "native"
    llm_stub.responder = shaped_responder("refuses_tools")

    out = _check()

    assert "Tool calling: refused by the server" in out
    assert "Verdict: Usable in text mode" in out
    assert "Set: LLM_TOOL_PROTOCOL=text" in out


def test_a_written_tool_call_is_reported_as_read(llm_stub):
    llm_stub.responder = shaped_responder("hermes")

    assert "Tool calling: written as text" in _check()


def test_an_unreachable_server_is_not_usable(settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.LLM_MAX_RETRIES = 0

    out = _check()

    assert "Reachable: no" in out
    assert "Verdict: Not usable" in out


def test_no_llm_configured_says_so(settings):
    settings.OPENAI_BASE_URL = settings.OPENAI_API_KEY = ""

    assert "Verdict: No LLM is configured" in _check()


class _LlamaProps(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        data = json.dumps({"default_generation_settings": {"n_ctx": 8192}}).encode()
        self.send_response(200 if self.path == "/props" else 404)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_a_context_size_the_server_tells_is_compared_with_the_setting(
    llm_stub, settings
):
    llm_stub.responder = _native_or_prose
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LlamaProps)
    serve_in_thread(server)
    try:
        # llama.cpp answers /props beside /v1; here another port plays it.
        settings.OPENAI_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}/v1"
        from agent.llm.chat_model import llm_settings
        from agent.llm.check import _context_size

        assert _context_size(llm_settings()) == 8192
    finally:
        server.shutdown()
        server.server_close()


def test_the_admin_runs_the_check_and_its_index_shows_the_verdict(
    llm_stub, admin_client
):
    llm_stub.responder = _native_or_prose

    page = admin_client.get("/admin/llm-check/")
    index = admin_client.get("/admin/")

    assert page.status_code == 200
    assert "Verdict: Usable: native tool calling." in page.content.decode()
    assert "Verdict: Usable: native tool calling." in index.content.decode()


def test_the_llm_check_page_is_for_staff_only(alice_page):
    response = alice_page.get("/admin/llm-check/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
