"""Run the service as production does, in subprocesses: a dedicated PostgreSQL app
database, gunicorn instances on free ports, and a TCP proxy that can play a
database server going down and coming back.

Used by `make load`, `make bench` and the scale-out and fault tests.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from testsupport.workers import worker_suffixed

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
SECRET_KEY = "serving-secret-key-not-for-production-0123456789abcdef"
FIELD_ENCRYPTION_KEY = "Y2Y5N2E0NjQ0ZDQ3NDc3ZmE3ZTBiZWI1YjYxZTFlM2M="
HIGH_RATE = "1000000/minute"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_derived(suffix: str, base_url: str | None = None) -> str:
    """Return a PostgreSQL URL named after `base_url`'s database plus `suffix`.

    Parallel runs set their own DATABASE_URL, and each pytest-xdist worker adds
    its id, so derived names do not collide.
    """
    base = base_url or os.environ.get("DATABASE_URL") or f"{PG_SERVER}/sqlagent"
    parts = urlsplit(base)
    if not parts.scheme.startswith("postgres"):
        parts = urlsplit(f"{PG_SERVER}/sqlagent")
    name = parts.path.lstrip("/") or "sqlagent"
    return urlunsplit(parts._replace(path=f"/{worker_suffixed(f'{name}_{suffix}')}"))


def pg_database_ensure(url: str, *, fresh: bool = False) -> None:
    """Create the PostgreSQL database of `url` if missing (dropped first if fresh)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        dbname="postgres",
        autocommit=True,
    ) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def serving_env(
    *,
    database_url: str,
    sqlite_dir: Path | str,
    llm_base_url: str = "",
    **overrides: str,
) -> dict[str, str]:
    """Return the environment of a production-like instance (shared secrets)."""
    env = dict(os.environ)
    # Browser tests let Playwright's event loop thread use the ORM; a served
    # instance is production: async safety stays on (check --deploy says so).
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "sqlagent_project.settings",
            "DATABASE_URL": database_url,
            "SECRET_KEY": SECRET_KEY,
            "FIELD_ENCRYPTION_KEY": FIELD_ENCRYPTION_KEY,
            "DEBUG": "0",
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SQLITE_DATABASES_DIR": str(sqlite_dir),
            "OPENAI_API_KEY": "sk-stub-0123456789",
            "OPENAI_BASE_URL": llm_base_url,
            "OPENAI_MODEL": "stub-model",
            "LLM_TIMEOUT_S": "20",
            "LLM_MAX_RETRIES": "2",
            "THROTTLE_LOGIN_RATE": HIGH_RATE,
            "THROTTLE_REGISTER_RATE": HIGH_RATE,
            "THROTTLE_ASK_RATE": HIGH_RATE,
            "LOG_LEVEL": "WARNING",
            # A served instance resumes interrupted evaluation runs, as in production.
            "EVALUATION_RESUME_IN_PROCESS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(overrides)
    return env


def app_database_migrate(env: dict[str, str]) -> None:
    """Create (if missing) and migrate the app database `env` points at."""
    pg_database_ensure(env["DATABASE_URL"])
    for command in (["migrate", "--noinput"],):
        done = subprocess.run(
            [PYTHON, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"manage.py {' '.join(command)} failed:\n{done.stdout}{done.stderr}"
            )


class Gunicorn:
    """One gunicorn instance (master + workers) serving the project on a port."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        port: int | None = None,
        workers: int = 2,
        threads: int = 4,
        log_dir: Path | None = None,
    ):
        self.port = port or free_port()
        self.env = {
            **env,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": str(threads),
        }
        folder = log_dir or Path(tempfile.mkdtemp(prefix="sqlagent-gunicorn-"))
        self.log_path = folder / f"gunicorn-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, ready_timeout_s: float = 60) -> Gunicorn:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                GUNICORN,
                "-c",
                "sqlagent_project/gunicorn.conf.py",
                "sqlagent_project.wsgi",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer in time:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """Return the pids of the live workers (children of the master)."""
        import psutil

        if self.process is None or self.process.poll() is not None:
            return []
        try:
            children = psutil.Process(self.process.pid).children()
        except psutil.NoSuchProcess:
            return []
        return [c.pid for c in children if c.status() != psutil.STATUS_ZOMBIE]

    def stop(self, *, timeout_s: float = 20) -> None:
        """Stop gracefully (SIGTERM to the master); kill what is left after."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout_s)
        self._kill_group()

    def kill(self) -> None:
        """SIGKILL the master and every worker, as a crash would."""
        if self.process is None:
            return
        self._kill_group()

    def _kill_group(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TcpProxy:
    """Forward 127.0.0.1:port to a database server; stop() plays the server dying.

    stop() closes the listening socket and every open connection, so clients see
    their connections drop and new ones refused; start() listens again on the
    same port, as a restarted server would.
    """

    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    listener.close()
                    raise
                time.sleep(0.1)
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener = listener
        self._stopping = threading.Event()
        thread = threading.Thread(
            target=self._accept_loop, args=(listener, self._stopping), daemon=True
        )
        thread.start()
        self._threads = [thread]
        return self

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)
        with self._lock:
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _accept_loop(self, listener: socket.socket, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(
                target=self._pump, args=(client, upstream, stopping), daemon=True
            ).start()

    def _pump(
        self, a: socket.socket, b: socket.socket, stopping: threading.Event
    ) -> None:
        selector = selectors.DefaultSelector()
        try:
            a.setblocking(False)
            b.setblocking(False)
            selector.register(a, selectors.EVENT_READ, b)
            selector.register(b, selectors.EVENT_READ, a)
            while not stopping.is_set():
                for key, _ in selector.select(timeout=0.2):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.setblocking(True)
                    key.data.sendall(data)
                    key.data.setblocking(False)
        except (OSError, ValueError):
            return
        finally:
            selector.close()
            with self._lock:
                self._sockets.discard(a)
                self._sockets.discard(b)
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


class Client:
    """A JSON client for one user of a running instance (httpx, bearer token)."""

    def __init__(self, base_url: str, *, timeout_s: float = 60):
        self.http = httpx.Client(base_url=base_url, timeout=timeout_s)
        self.token = ""

    def with_base_url(self, base_url: str) -> Client:
        """Return a client for another instance carrying the same token."""
        other = Client(base_url, timeout_s=self.http.timeout.read or 60)
        other.token = self.token
        return other

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path, headers=self._headers())

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.http.post(path, json=body or {}, headers=self._headers())

    def register_and_login(self, email: str, password: str) -> None:
        response = self.post("/auth/register", {"email": email, "password": password})
        assert response.status_code == 201, response.text
        response = self.post("/auth/login", {"email": email, "password": password})
        assert response.status_code == 200, response.text
        self.token = response.json()["access"]

    def connect(self, fields: dict[str, Any]) -> str:
        """Add a connection, connect the session to it, return the session id."""
        response = self.post("/databases/add_db_connection", fields)
        assert response.status_code == 201, response.text
        db_id = response.json()["db_connection"]["id"]
        response = self.post(f"/databases/connect_db/{db_id}")
        assert response.status_code == 200, response.text
        return response.json()["session_id"]

    def close(self) -> None:
        self.http.close()


if __name__ == "__main__":  # pragma: no cover - manual smoke run
    url = database_url_derived("serving_smoke")
    env = serving_env(database_url=url, sqlite_dir=tempfile.mkdtemp())
    app_database_migrate(env)
    with Gunicorn(env) as server:
        print(server.url, httpx.get(f"{server.url}/health").json(), file=sys.stderr)
