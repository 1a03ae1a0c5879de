"""Slow clients cannot take the server down: a real gunicorn (the production config,
one worker with few threads) keeps answering /health while hundreds of loopback
sockets trickle their requests, and closes those sockets at the deadline."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sqlagent_project.gunicorn_worker import (
    DeadlineSocket,
    RequestReadTimeout,
    body_length_hint,
    head_length,
)
from testsupport.serving import (
    Gunicorn,
    app_database_migrate,
    database_url_derived,
    serving_env,
)

HEADER_TIMEOUT_S = 3
BODY_TIMEOUT_S = 3
KEEPALIVE_S = 2
THREADS = 8


def test_a_head_ends_at_its_blank_line():
    assert head_length(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody") == 27
    assert head_length(b"GET / HTTP/1.1\nHost: a\n\nbody") == 24
    assert head_length(b"GET / HTTP/1.1\r\nHost: a\r\n") is None


@pytest.mark.parametrize(
    ("headers", "hint"),
    [
        (b"Content-Length: 12", 12),
        (b"content-length:7", 7),
        (b"Content-Length: 12\r\nContent-Length: 12", 0),  # the parser decides
        (b"Content-Length: 12\r\nTransfer-Encoding: chunked", 0),
        (b"Content-Length: -1", 0),
        (b"X-Other: 1", 0),
    ],
)
def test_only_one_plain_declared_length_is_gathered_before_parsing(headers, hint):
    assert body_length_hint(b"POST / HTTP/1.1\r\n" + headers + b"\r\n\r\n") == hint


def test_a_read_past_the_deadline_raises_and_leaves_the_socket_as_it_was():
    server_end, client_end = socket.socketpair()
    with server_end, client_end:
        reader = DeadlineSocket(server_end)
        client_end.sendall(b"GET")
        reader.deadline = time.monotonic() + 0.3
        assert reader.recv(10) == b"GET"
        started = time.monotonic()
        with pytest.raises(RequestReadTimeout):
            reader.recv(10)  # the client sends nothing more
        assert 0.2 < time.monotonic() - started < 2
        assert server_end.gettimeout() is None  # still blocking, for the answer
        reader.deadline = None
        client_end.sendall(b"x")
        assert reader.recv(10) == b"x"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    folder = tmp_path_factory.mktemp("slow-clients")
    env = serving_env(
        database_url=database_url_derived("slow_clients"),
        sqlite_dir=folder,
        REQUEST_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
        REQUEST_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
        GUNICORN_KEEPALIVE=str(KEEPALIVE_S),
    )
    app_database_migrate(env)
    with Gunicorn(env, workers=1, threads=THREADS, log_dir=folder) as running:
        yield running


class Trickler:
    """Open `count` sockets and send each one's request a byte at a time."""

    def __init__(self, port: int, count: int, *, payload: bytes, every_s: float):
        self.port = port
        self.payload = payload
        self.every_s = every_s
        self.sockets = [
            socket.create_connection(("127.0.0.1", port), timeout=5)
            for _ in range(count)
        ]
        self.opened_at = time.monotonic()
        self.closed_at: dict[int, float] = {}
        self.answers: dict[int, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Trickler:
        self._thread.start()
        return self

    def _run(self) -> None:
        sent = 0
        while not self._stop.is_set() and sent < len(self.payload):
            byte = self.payload[sent : sent + 1]
            for index, sock in enumerate(self.sockets):
                if index in self.closed_at:
                    continue
                try:
                    sock.sendall(byte)
                except OSError:
                    self.closed_at[index] = time.monotonic()
            sent += 1
            self._look()
            self._stop.wait(self.every_s)
        while not self._stop.is_set():
            self._look()
            self._stop.wait(0.1)

    def _look(self) -> None:
        """Note every socket the server closed (end of stream or reset)."""
        for index, sock in enumerate(self.sockets):
            if index in self.closed_at:
                continue
            try:
                data = sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                self.answers[index] = self.answers.get(index, b"") + data
                continue
            self.closed_at[index] = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


def _health_probe(url: str, *, for_s: float) -> list[float]:
    """GET /health on new connections for `for_s`; return each answer's seconds."""
    timings = []
    deadline = time.monotonic() + for_s
    while time.monotonic() < deadline:
        started = time.monotonic()
        response = httpx.get(
            f"{url}/health", timeout=30, headers={"Connection": "close"}
        )
        timings.append(time.monotonic() - started)
        assert response.status_code == 200
        time.sleep(0.25)
    return timings


@pytest.mark.slow
def test_health_answers_while_hundreds_of_clients_trickle_their_headers(server):
    # Plain gthread gave each of these sockets a thread until it finished: 8
    # threads, 300 sockets, and /health waited behind them all.
    slow = Trickler(
        server.port,
        300,
        payload=b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200,
        every_s=0.5,
    ).start()
    try:
        timings = _health_probe(server.url, for_s=HEADER_TIMEOUT_S + KEEPALIVE_S + 3)
    finally:
        slow.stop()

    assert max(timings) < 2.0, timings
    # Each slow socket was closed once its headers were late (first byte at
    # opening), and none was answered.
    assert len(slow.closed_at) == 300
    latest = max(slow.closed_at.values()) - slow.opened_at
    assert latest < HEADER_TIMEOUT_S + 2.5, latest
    assert slow.answers == {}


@pytest.mark.slow
def test_clients_that_stop_sending_after_a_few_bytes_are_closed_without_a_thread(
    server,
):
    # Silent after their first bytes: each waits in the worker's poller, not in
    # a thread, and is closed when idle for the keep-alive time.
    slow = Trickler(server.port, 200, payload=b"GET /hea", every_s=0.01).start()
    try:
        timings = _health_probe(server.url, for_s=KEEPALIVE_S + 2)
    finally:
        slow.stop()

    assert max(timings) < 2.0, timings
    assert len(slow.closed_at) == 200
    assert max(slow.closed_at.values()) - slow.opened_at < KEEPALIVE_S + 2.5


def _post_head(body: bytes, *, chunked: bool = False) -> bytes:
    framing = (
        b"Transfer-Encoding: chunked"
        if chunked
        else b"Content-Length: " + str(len(body)).encode()
    )
    return (
        b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n" + framing + b"\r\n\r\n"
    )


LOGIN_BODY = b'{"email": "slow@example.com", "password": "x"}'


@pytest.mark.slow
def test_bodies_that_trickle_past_their_deadline_are_cut_without_holding_threads(
    server,
):
    slow = Trickler(server.port, 200, payload=LOGIN_BODY, every_s=0.5)
    for sock in slow.sockets:
        sock.sendall(_post_head(LOGIN_BODY))
    slow.start()
    try:
        timings = _health_probe(server.url, for_s=BODY_TIMEOUT_S + 2)
    finally:
        slow.stop()

    assert max(timings) < 2.0, timings
    assert len(slow.closed_at) == 200
    assert max(slow.closed_at.values()) - slow.opened_at < BODY_TIMEOUT_S + 2.5
    assert slow.answers == {}  # the application never saw them


@pytest.mark.slow
def test_a_chunked_body_that_trickles_past_its_deadline_is_answered_408(server):
    # A chunked body is read by a thread (a buffering proxy sends lengths):
    # fewer clients than threads, so /health has one.
    chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(LOGIN_BODY), LOGIN_BODY)
    slow = Trickler(server.port, THREADS // 2, payload=chunk, every_s=0.5)
    for sock in slow.sockets:
        sock.sendall(_post_head(LOGIN_BODY, chunked=True))
    slow.start()
    try:
        timings = _health_probe(server.url, for_s=BODY_TIMEOUT_S + 2)
    finally:
        slow.stop()

    assert max(timings) < 2.0, timings
    assert len(slow.closed_at) == THREADS // 2
    assert max(slow.closed_at.values()) - slow.opened_at < BODY_TIMEOUT_S + 2.5
    statuses = {answer.split(b"\r\n", 1)[0] for answer in slow.answers.values()}
    assert statuses == {b"HTTP/1.1 408 Request Timeout"}


@pytest.mark.slow
def test_clients_that_never_close_after_their_answer_do_not_stall_the_worker(server):
    # gunicorn lingered up to 2 s on its event loop for each such client.
    held = []
    for _ in range(30):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(
            b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        held.append(sock)
    try:
        timings = _health_probe(server.url, for_s=3)
        answers = [_read_until_closed(sock) for sock in held]
    finally:
        for sock in held:
            sock.close()

    assert max(timings) < 2.0, timings
    assert all(answer.startswith(b"HTTP/1.1 200 OK") for answer in answers)


def _read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.slow  # the real gunicorn of the `server` fixture
def test_ordinary_requests_are_served_with_their_bodies(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        # Keep-alive: several requests, with and without bodies, on one connection.
        registered = client.post(
            "/auth/register",
            json={"email": "plain-body@example.com", "password": "a-long-pass-9"},
        )
        login = client.post(
            "/auth/login",
            json={"email": "plain-body@example.com", "password": "a-long-pass-9"},
        )
        health = client.get("/health")
        # Expect: 100-continue gets its interim answer before the body is read.
        expecting = client.post(
            "/auth/login",
            content=b'{"email": "plain-body@example.com", "password": "a-long-pass-9"}',
            headers={"Content-Type": "application/json", "Expect": "100-continue"},
        )

    assert registered.status_code in (201, 400), registered.text
    assert login.status_code == 200, login.text
    assert health.status_code == 200
    assert expecting.status_code == 200, expecting.text


@pytest.mark.slow  # the real gunicorn of the `server` fixture
def test_a_declared_body_over_the_limit_is_refused_unread(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
        )
        answer = _read_until_closed(sock)

    assert answer.startswith(b"HTTP/1.1 413")


@pytest.mark.slow  # the real gunicorn of the `server` fixture
def test_server_log_names_no_socket_error(server):
    log = Path(server.log_path).read_text(errors="replace")

    assert "Socket error processing request" not in log
    assert "Traceback" not in log
