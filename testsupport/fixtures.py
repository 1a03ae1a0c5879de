"""Shared pytest fixtures (loaded by the root conftest.py's pytest_plugins).

Personas `alice` and `bob`, API clients logged in as each, and the real target
databases of testsupport/targets.py (re-exported here: tests import them from
this module).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testsupport.speedups import (
    fast_password_hasher,
    flush_by_delete,
    static_files_found_once,
)
from testsupport.targets import (
    CITIES,
    CUSTOMERS,
    ENGINES,
    MYSQL_ADMIN,
    ORDERS,
    PASSWORD,
    PG_ADMIN,
    PLANTED_NOTE,
    READER,
    SQLITE_FILE,
    TARGET_DB,
    _target_databases_create,
    connection_fields,
    shop_admin_run,
    shop_build_mysql,
    shop_build_postgresql,
    shop_build_sqlite,
    shop_snapshot,
    sqlite_connection_form,
)

__all__ = [
    "CITIES",
    "CUSTOMERS",
    "ENGINES",
    "LLM_STUB_API_KEY",
    "MYSQL_ADMIN",
    "ORDERS",
    "PASSWORD",
    "PG_ADMIN",
    "PLANTED_NOTE",
    "READER",
    "SQLITE_FILE",
    "TARGET_DB",
    "connection_fields",
    "shop_admin_run",
    "shop_build_mysql",
    "shop_build_postgresql",
    "shop_build_sqlite",
    "shop_snapshot",
    "sqlite_connection_form",
]


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    fast_password_hasher(settings)
    static_files_found_once()
    flush_by_delete()


@pytest.fixture(scope="session")
def sqlite_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sqlagent-sqlite-") as folder:
        yield Path(folder).resolve()


@pytest.fixture(autouse=True)
def _sqlite_databases_dir(settings: Any, sqlite_dir: Path) -> None:
    settings.SQLITE_DATABASES_DIR = sqlite_dir
    # No background value-index build races a test; tests build it themselves.
    settings.VALUE_INDEX_ON_CONNECT = False


@pytest.fixture(autouse=True)
def _empty_engine_cache() -> Iterator[None]:
    yield
    from agent.engines import engine_cache
    from connections.pools import target_pools

    engine_cache.close_all()
    # Every test starts without pools: one test's connections (or a pool
    # sized by its settings) never serve the next.
    target_pools.close_all()


@pytest.fixture(scope="session")
def shop_databases(sqlite_dir: Path) -> dict[str, Any]:
    """Build the shop in all three engines once per run."""
    _target_databases_create()
    shop_build_postgresql()
    shop_build_mysql()
    shop_build_sqlite(sqlite_dir / SQLITE_FILE)
    return {"sqlite_dir": sqlite_dir}


@pytest.fixture
def shop(shop_databases: dict[str, Any]) -> dict[str, Any]:
    """The shop databases, rebuilt after a test that may have changed them."""
    return shop_databases


@pytest.fixture
def make_user(db: None) -> Callable[..., Any]:
    from accounts.models import User

    def make(email: str, name: str = "") -> User:
        return User.objects.create_user(email=email, password=PASSWORD, name=name)

    return make


@pytest.fixture
def alice(make_user: Callable[..., Any]) -> Any:
    return make_user("alice@example.com", "Alice")


@pytest.fixture
def bob(make_user: Callable[..., Any]) -> Any:
    return make_user("bob@example.com", "Bob")


def page_client_for(user: Any) -> Any:
    """A browser-like client logged in as `user` (Django session auth)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_page(alice: Any) -> Any:
    return page_client_for(alice)


@pytest.fixture
def bob_page(bob: Any) -> Any:
    return page_client_for(bob)


LLM_STUB_API_KEY = "sk-test-key-0123456789"


@pytest.fixture
def llm_stub(settings: Any) -> Iterator[Any]:
    """The OpenAI-compatible stub server on 127.0.0.1, configured as the LLM."""
    from testsupport.llm_stub import StubLLMServer, keyword_responder

    with StubLLMServer(responder=keyword_responder()) as server:
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_API_KEY = LLM_STUB_API_KEY
        settings.LLM_MAX_RETRIES = 1
        settings.LLM_TIMEOUT_S = 5
        yield server


def api_client_for(user: Any) -> Any:
    """An API client with a JWT of `user`'s."""
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}"
    )
    return client


@pytest.fixture
def anon_client() -> Any:
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def alice_client(alice: Any) -> Any:
    return api_client_for(alice)


@pytest.fixture
def bob_client(bob: Any) -> Any:
    return api_client_for(bob)


@pytest.fixture
def make_connection(shop: dict[str, Any]) -> Callable[..., Any]:
    """Create a DatabaseConnection row for `owner` to the shop in `db_type`."""
    from connections.services import connection_create

    def make(owner: Any, db_type: str, *, reader: bool = True, **overrides: Any) -> Any:
        fields = {**connection_fields(db_type, reader=reader), **overrides}
        return connection_create(owner=owner, **fields)

    return make


@pytest.fixture
def privileged_ok(settings: Any) -> None:
    """Let tests connect as the admin roles (postgres, root), refused by default."""
    settings.ALLOW_PRIVILEGED_CONNECTIONS = True


@pytest.fixture
def connected_session(make_connection: Callable[..., Any]) -> Callable[..., Any]:
    """Bind a new connection to the owner's active session and return the session."""
    from connections.services import session_connect, session_get_or_create_active

    def connect(owner: Any, db_type: str, **overrides: Any) -> Any:
        connection = make_connection(owner, db_type, **overrides)
        session = session_get_or_create_active(user=owner)
        return session_connect(session=session, connection=connection)

    return connect


@pytest.fixture
def places(shop: dict[str, Any], sqlite_dir: Any, db_type: str) -> Iterator[None]:
    """A `places` table of CITIES (accented), on the shop of `db_type`; dropped
    after the test."""
    text = "VARCHAR(100)" if db_type == "mysql" else "TEXT"
    statements = [
        "DROP TABLE IF EXISTS places",
        f"CREATE TABLE places (id INTEGER PRIMARY KEY, city {text} NOT NULL)",
        *(
            f"INSERT INTO places VALUES ({i}, '{city}')"
            for i, city in enumerate(CITIES, start=1)
        ),
    ]
    if db_type == "postgresql":
        statements.append("GRANT SELECT ON places TO sqlagent_reader")
    shop_admin_run(db_type, sqlite_dir, statements)
    yield
    shop_admin_run(db_type, sqlite_dir, ["DROP TABLE IF EXISTS places"])
