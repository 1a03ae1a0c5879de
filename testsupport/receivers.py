"""Real receivers on loopback for deliveries: an SMTP server (aiosmtpd) and an
HTTP server that records the webhook POSTs it gets."""

from __future__ import annotations

import email
import json
import socket
import ssl
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from testsupport.loopback import serve_in_thread
from testsupport.serving import free_port


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_inbox(settings: Any) -> Iterator[list[Message]]:
    """Django's SMTP backend pointed at an aiosmtpd server on 127.0.0.1."""
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    try:
        yield inbox.messages
    finally:
        controller.stop()


class WebhookReceiver:
    """Records each POST (headers, JSON body); answers `statuses` in turn, then 200.

    With `tls` (a server context holding a certificate) it serves HTTPS; with
    `ipv6`, on ::1 instead of 127.0.0.1.
    """

    def __init__(
        self, *, tls: ssl.SSLContext | None = None, ipv6: bool = False
    ) -> None:
        self.posts: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append(
                    {
                        # Header names are case-insensitive: kept lower-cased.
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "raw": raw,
                        "json": json.loads(raw),
                    }
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ipv6 else socket.AF_INET

        host = "::1" if ipv6 else "127.0.0.1"
        self._server = Server((host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        literal = "[::1]" if ipv6 else host
        self.url = f"{scheme}://{literal}:{self.port}/hook"
        serve_in_thread(self._server)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()
