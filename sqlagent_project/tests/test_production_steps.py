"""The README's production steps, and nothing else, give a working service.

From an empty PostgreSQL database: migrate, collectstatic, createsuperuser
--noinput, check --deploy, gunicorn with the shipped config; then a user
registers, logs in, connects and asks over HTTP.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from testsupport.fixtures import PASSWORD, connection_fields
from testsupport.llm_stub import StubLLMServer, keyword_responder
from testsupport.serving import (
    PYTHON,
    ROOT,
    Client,
    Gunicorn,
    database_url_derived,
    pg_database_ensure,
    serving_env,
)

pytestmark = pytest.mark.slow

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "Admin-Pass-4471-long"


@pytest.fixture(scope="module")
def stub() -> Iterator[StubLLMServer]:
    with StubLLMServer(responder=keyword_responder()) as server:
        yield server


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stderr}"
    return done


def test_the_readme_production_steps_give_a_service_that_answers(
    shop_databases: dict[str, Any], stub: StubLLMServer, tmp_path
):
    url = database_url_derived("readme_steps")
    pg_database_ensure(url, fresh=True)
    env = serving_env(
        database_url=url,
        sqlite_dir=shop_databases["sqlite_dir"],
        llm_base_url=stub.base_url,
        ENV_FILE="/nonexistent",  # only what the README exports
        DJANGO_SUPERUSER_EMAIL=ADMIN_EMAIL,
        DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD,
    )

    migrated = _manage(env, "migrate", "--noinput")
    assert "dbcache" in migrated.stdout
    _manage(env, "collectstatic", "--noinput")
    _manage(env, "createsuperuser", "--noinput")
    checked = _manage(env, "check", "--deploy")
    assert "sqlagent.E" not in checked.stdout + checked.stderr

    with Gunicorn(env, log_dir=tmp_path) as server:
        admin = Client(server.url)
        login = admin.post(
            "/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text

        user = Client(server.url)
        user.register_and_login(f"first-{uuid.uuid4().hex[:8]}@example.com", PASSWORD)
        fields = connection_fields("postgresql")
        fields["db_password"] = fields.pop("password")
        session_id = user.connect(fields)
        answer = user.post("/ask", {"question": "Which customers live in Germany?"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["session_id"] == session_id
        assert "Ada Lovelace" in answer.json()["answer"]
        assert user.get("/static/favicon.svg").status_code == 200
