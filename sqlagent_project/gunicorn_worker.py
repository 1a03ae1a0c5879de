"""gunicorn's threaded worker, with deadlines on how long a request may take to arrive.

gunicorn 27 has no such deadline: once a client has sent its first byte, a
thread reads the rest of the headers and the body from a blocking socket for as
long as the client cares to trickle them. A few hundred slow clients held every
thread, and /health went unanswered. Here:

- headers are gathered without holding a thread: a thread reads what has
  arrived, and if the headers are not complete the connection waits in the
  worker's poller (as a kept-alive one does) until more bytes come;
- the headers must be complete within `header_timeout_s` of their first byte,
  or the connection is closed;
- a body of declared length (up to the app's REQUEST_MAX_BYTES) is gathered the
  same way, within `body_timeout_s` of the end of the headers, or the
  connection is closed; a chunked body is read by a thread under the same
  deadline (the client gets 408 when it passes). Either way the body is read
  before the application runs: the application never waits on the client.
- closing a connection never waits for the client: gunicorn lingered up to 2 s
  on its event loop for each closed connection whose client did not close.

A reverse proxy in front that buffers requests makes these deadlines moot for
its own clients (README "Production"); they protect the worker from whoever
reaches it directly.
"""

from __future__ import annotations

import contextlib
import errno
import io
import socket
import time
from typing import Any

from gunicorn import util
from gunicorn.http.body import Body
from gunicorn.http.errors import NoMoreData
from gunicorn.workers import gthread

# Bytes of a request's head gathered before the thread hands over to gunicorn's
# parser (which then reads any rest under the header deadline). Headers of
# ordinary requests are a few KiB.
HEAD_GATHER_MAX = 64 * 1024
# How long a thread waits for a new connection's first bytes before giving the
# connection to the poller (a client sends its request right after connecting).
FIRST_BYTES_WAIT_S = 0.1
# The shortest time a connection waits in the poller for its request's next
# bytes (gthread uses the keep-alive time, which may be set to 0).
PENDING_IDLE_MIN_S = 1.0
# A body is read into memory when it is at most this large; a larger declared
# one is left to the application, which refuses it (413) without reading it.
BODY_BUFFER_MAX_DEFAULT = 1024 * 1024


class RequestReadTimeout(NoMoreData):
    """The client did not send its request within the deadline."""


def head_length(data: bytes) -> int | None:
    """Return the length of the request head at the start of `data`, if whole."""
    ends = [
        found + len(mark)
        for mark in (b"\r\n\r\n", b"\n\n")
        if (found := data.find(mark)) >= 0
    ]
    return min(ends) if ends else None


def body_length_hint(head: bytes) -> int:
    """Return the body length `head` declares, 0 when it is not one plain number.

    Only says how many bytes to gather before gunicorn's parser runs; the
    parser decides what the request is (and refuses a conflicting one).
    """
    lengths = []
    for line in head.split(b"\n")[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        name = name.strip().lower()
        if name == b"transfer-encoding":
            return 0
        if name == b"content-length":
            lengths.append(value.strip())
    if len(lengths) != 1 or not lengths[0].isdigit():
        return 0
    return int(lengths[0])


def expects_continue(head: bytes) -> bool:
    """Return whether the client waits for "100 Continue" before its body."""
    for line in head.split(b"\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() == b"expect":
            return value.strip().lower() == b"100-continue"
    return False


class DeadlineSocket:
    """The client socket as gunicorn's parser reads it: no read past `deadline`.

    Only reads are bounded; everything else is the socket's own. gunicorn
    bounds its own body drain with `settimeout`, which applies here too.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline: float | None = None

    def recv(self, size: int) -> bytes:
        if self.deadline is None:
            return self.sock.recv(size)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise RequestReadTimeout()
        prior = self.sock.gettimeout()
        self.sock.settimeout(remaining if prior is None else min(prior, remaining))
        try:
            return self.sock.recv(size)
        except TimeoutError:
            if time.monotonic() >= self.deadline:
                raise RequestReadTimeout() from None
            raise
        finally:
            self.sock.settimeout(prior)

    def gettimeout(self) -> float | None:
        return self.sock.gettimeout()

    def settimeout(self, value: float | None) -> None:
        self.sock.settimeout(value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class DeadlineConn(gthread.TConn):
    """A connection that remembers the request head gathered so far."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The request gathered so far (head, then a body of declared length),
        # how many bytes make it whole (known once the head is), and by when.
        self.head = b""
        self.need: int | None = None
        self.head_deadline: float | None = None
        self.body_deadline: float | None = None
        self.continued = False
        self.reader: DeadlineSocket | None = None

    def init(self) -> None:
        fresh = not self.initialized
        super().init()
        if fresh and self.parser is not None:
            # The parser reads through the deadline; the app and responses
            # use the plain socket.
            self.reader = DeadlineSocket(self.sock)
            self.parser.unreader.sock = self.reader

    def close(self, graceful: bool = False) -> None:
        """Close without waiting on the client, on the worker's event loop.

        gunicorn's graceful close lingers up to 2 s for the client to close
        first, and runs on the loop that accepts and dispatches every
        connection: a client that never closes stalled the whole worker.
        Here: send FIN, take what the client already sent (so the kernel does
        not answer it with a reset that could cut the response), close.
        """
        if not graceful:
            util.close(self.sock)
            return
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.setblocking(False)
            for _ in range(16):
                if not self.sock.recv(65536):
                    break
        util.close(self.sock)


class DeadlineThreadWorker(gthread.ThreadWorker):
    """gthread, with bounded request arrival (see the module docstring)."""

    # Set from the environment by gunicorn.conf.py's post_fork.
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    body_buffer_max: int = BODY_BUFFER_MAX_DEFAULT

    def accept(self, listener: socket.socket) -> None:
        """Accept a connection as gthread does, as a DeadlineConn."""
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        client_sock.setblocking(True)
        conn = DeadlineConn(self.cfg, client_sock, client_addr, listener.getsockname())
        self.enqueue_req(conn)

    def finish_request(self, conn: gthread.TConn, fs: Any) -> None:
        """As gthread, but a waiting request gets at least PENDING_IDLE_MIN_S."""
        super().finish_request(conn, fs)
        if self.pending_conns and self.pending_conns[-1] is conn:
            # The same wait for every pending connection keeps them in order
            # of expiry, as murder_pending expects.
            idle = max(float(self.cfg.keepalive), PENDING_IDLE_MIN_S)
            conn.timeout = time.monotonic() + idle

    def murder_pending(self) -> None:
        """Close waiting connections idle too long, or whose head is late."""
        super().murder_pending()
        now = time.monotonic()
        late = [
            conn
            for conn in self.pending_conns
            if isinstance(conn, DeadlineConn)
            and now >= (conn_deadline(conn) or float("inf"))
        ]
        for conn in late:
            self.pending_conns.remove(conn)
            with contextlib.suppress(OSError, KeyError, ValueError):
                self.poller.unregister(conn.sock)
            self.nr_conns -= 1
            conn.close()

    def handle(self, conn: gthread.TConn) -> Any:
        """Gather the request head without blocking, then serve it as gthread does."""
        if not isinstance(conn, DeadlineConn) or self.cfg.is_ssl:
            # TLS in gunicorn itself: its handshake reads first; no gathering.
            return super().handle(conn)
        try:
            state = self._head_gather(conn)
        except OSError:
            state = "closed"
        if state == "wait":
            return gthread._DEFER
        if state != "complete":
            # Expired, closed by the client, or broken: end it now, in this
            # thread; the event loop then closes the (shut) socket at once.
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
            return False
        conn.sock.setblocking(True)
        conn.init()
        conn.parser.unreader.unread(conn.head)
        reader = conn.reader
        if reader is not None:
            reader.deadline = conn.head_deadline
        conn.data_ready = True
        try:
            return super().handle(conn)
        finally:
            if reader is not None:
                reader.deadline = None
            conn.head = b""
            conn.need = conn.head_deadline = conn.body_deadline = None
            conn.continued = False

    def _head_gather(self, conn: DeadlineConn) -> str:
        """Read what has arrived of the request (its head, and a declared body).

        Return "complete", "wait" (for the poller), "expired" or "closed".
        """
        if conn.parser is not None:
            # A kept-alive connection may hold the next request's bytes already.
            conn.head += conn.parser.unreader.take_buffered()
        first = not conn.head and not conn.initialized
        if first and not conn.wait_for_data(FIRST_BYTES_WAIT_S):
            conn.data_ready = False
            return "wait"
        conn.sock.setblocking(False)
        while True:
            if conn.need is None:
                self._need_learn(conn)
            if conn.need is not None and len(conn.head) >= conn.need:
                return "complete"
            if conn.need is None and len(conn.head) >= HEAD_GATHER_MAX:
                return "complete"  # gunicorn's parser reads on, and limits it
            try:
                chunk = conn.sock.recv(HEAD_GATHER_MAX)
            except (BlockingIOError, InterruptedError):
                break
            if not chunk:
                return "closed"
            if not conn.head:
                conn.head_deadline = time.monotonic() + self.header_timeout_s
            conn.head += chunk
        if time.monotonic() >= (conn_deadline(conn) or float("inf")):
            self.log.info("request not complete in time from %s", conn.client)
            return "expired"
        conn.data_ready = False
        return "wait"

    def _need_learn(self, conn: DeadlineConn) -> None:
        """Once the head is whole, learn how many body bytes to gather with it."""
        length = head_length(conn.head)
        if length is None:
            return
        head = conn.head[:length]
        body = body_length_hint(head)
        if body > self.body_buffer_max:
            body = 0  # refused unread by the application
        conn.need = length + body
        if body:
            conn.body_deadline = time.monotonic() + self.body_timeout_s
            if expects_continue(head) and not conn.continued:
                conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                conn.continued = True

    def handle_request(self, req: Any, conn: gthread.TConn) -> bool:
        """Read the body within the deadline, then run the application."""
        reader = getattr(conn, "reader", None)
        if reader is not None and req.body is not None:
            reader.deadline = getattr(conn, "body_deadline", None) or (
                time.monotonic() + self.body_timeout_s
            )
            try:
                self._body_buffer(req, conn)
            except RequestReadTimeout:
                self.log.info("request body not complete in time from %s", conn.client)
                with contextlib.suppress(OSError):
                    util.write_error(
                        conn.sock, 408, "Request Timeout", "The request took too long."
                    )
                    conn.sock.shutdown(socket.SHUT_RDWR)
                return False
            finally:
                reader.deadline = None
        return super().handle_request(req, conn)

    def _body_buffer(self, req: Any, conn: gthread.TConn) -> None:
        """Replace the request's body by its bytes, read now (if not too large)."""
        declared = _content_length(req)
        if declared is not None and declared > self.body_buffer_max:
            return  # refused unread by the application; the connection closes
        if req._expected_100_continue and getattr(conn, "continued", False):
            req._expected_100_continue = False  # sent while gathering
        if req._expected_100_continue:
            conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            req._expected_100_continue = False
        data = req.body.read(self.body_buffer_max + 1)
        if len(data) > self.body_buffer_max:
            # A chunked body over the limit: the application sees the start
            # and refuses it; the rest is never read, so the connection closes.
            req.must_close = True
        req.body = Body(io.BytesIO(data))


def conn_deadline(conn: DeadlineConn) -> float | None:
    """Return by when the request being gathered on `conn` must be whole."""
    return conn.body_deadline if conn.need is not None else conn.head_deadline


def _content_length(req: Any) -> int | None:
    for name, value in req.headers:
        if name == "CONTENT-LENGTH" and value.strip().isdigit():
            return int(value)
    return None
