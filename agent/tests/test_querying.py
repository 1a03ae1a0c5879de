"""Querying a session's database is one LLM-free path (agent/querying.py) that
every caller takes, raising the service's own errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from agent.engines import engine_cache
from agent.mcp_server import tools as mcp_tools
from agent.models import Turn, TurnStatus
from connections.exceptions import TargetDatabaseUnavailable

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # a Python subprocess that sets Django up
def test_querying_user_sql_and_the_schema_panel_import_no_llm_package():
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "CACHE_URL": "locmemcache://",
        "SECRET_KEY": "test-secret-key-only-for-this-import-check-0123456789",
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DJANGO_SETTINGS_MODULE": "sqlagent_project.settings",
    }
    code = (
        "import django, sys; django.setup()\n"
        "import agent.querying, agent.user_sql, agent.schema_browser\n"
        "import knowledge.services\n"
        "llm = ('langchain', 'langgraph', 'openai', 'agent.llm')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(llm))\n"
        "print(loaded)\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(params=["postgresql", "sqlite"])
def refused_target(request, alice, make_connection, alice_client, settings, tmp_path):
    """Alice is connected, then the target policy refuses her database: its host
    is denied (PostgreSQL) or its file is no longer inside the allowed folder
    (SQLite). The next physical connection is refused (TargetRefused)."""
    connection = make_connection(alice, request.param)
    response = alice_client.post(f"/databases/connect_db/{connection.id}")
    assert response.status_code == 200
    settings.TARGET_HOSTS_DENY = ["127.0.0.0/8", "::1/128", "localhost"]
    settings.SQLITE_DATABASES_DIR = str(tmp_path)
    # A fresh engine: the refusal comes with its first physical connection.
    engine_cache.close_all()
    return connection


def test_user_sql_on_a_refused_target_is_502_and_a_failed_turn(
    alice_client, refused_target
):
    response = alice_client.post("/ask/sql", {"sql": "SELECT 1"}, format="json")

    assert response.status_code == 502
    assert response.json()["code"] == "database_unavailable"
    assert Turn.objects.get().status == TurnStatus.ERROR


def test_the_schema_panel_on_a_refused_target_is_502(alice_client, refused_target):
    response = alice_client.get(f"/databases/{refused_target.id}/schema")

    assert response.status_code == 502
    assert response.json()["code"] == "database_unavailable"


def test_mcp_schema_and_sql_on_a_refused_target_are_the_public_error(
    alice, refused_target
):
    with pytest.raises(TargetDatabaseUnavailable):
        mcp_tools.describe_schema(alice, mcp_tools.DescribeSchemaArguments())
    with pytest.raises(TargetDatabaseUnavailable):
        mcp_tools.run_sql(alice, mcp_tools.RunSqlArguments(sql="SELECT 1"))
