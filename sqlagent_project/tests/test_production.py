"""A fresh deployment needs only the README's steps: migrate readies the cache,
createsuperuser runs unattended, and `check --deploy` catches an unusable cache."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection

from sqlagent_project.dbcache.checks import cache_usable_check

BASE_DIR = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ENV_FILE": "/nonexistent",
            "SECRET_KEY": "pB8x-7Kq_2mZr4Tn9Wc1Ls6Hy3Jd5Fv0Ga8Ue2Qo7Xi4Nb1Mk9Rt6Yw3E",
            "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": os.environ["DATABASE_URL"],
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.django_db
def test_createsuperuser_noinput_makes_an_admin_from_the_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "Admin@Example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "Admin-Pass-9921-long")

    call_command("createsuperuser", interactive=False, stdout=io.StringIO())

    admin = get_user_model().objects.get(email="admin@example.com")
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.check_password("Admin-Pass-9921-long")


@pytest.mark.django_db
def test_migrate_creates_the_database_cache_table():
    assert "sqlagent_cache" in connection.introspection.table_names()
    cache.set("greeting", "hello", 30)
    assert cache.get("greeting") == "hello"


@pytest.mark.django_db
def test_the_cache_check_passes_when_the_cache_answers():
    assert cache_usable_check() == []


@pytest.mark.django_db
def test_the_cache_check_fails_when_the_cache_table_is_missing():
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE sqlagent_cache")  # undone with the test

    errors = cache_usable_check()

    assert [e.id for e in errors] == ["sqlagent.E001"]
    assert "migrate" in errors[0].hint


@pytest.mark.slow  # a manage.py subprocess
def test_check_deploy_fails_loudly_when_redis_does_not_answer():
    # Port 1 on 127.0.0.1: nothing listens there.
    result = _manage("check", "--deploy", CACHE_URL="redis://127.0.0.1:1/0")

    assert result.returncode != 0
    assert "sqlagent.E001" in result.stderr
    assert "RedisCache" in result.stderr


@pytest.mark.slow  # a manage.py subprocess
def test_management_commands_print_no_axes_banner():
    result = _manage("check")

    assert result.returncode == 0, result.stderr
    assert "AXES" not in result.stdout + result.stderr


def test_llm_status_says_plainly_when_no_llm_is_configured(settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    out = io.StringIO()

    call_command("llm_status", stdout=out)

    assert "No LLM is configured" in out.getvalue()
    assert "OPENAI_API_KEY" in out.getvalue()


def test_llm_status_names_the_server_without_its_credentials(settings):
    settings.OPENAI_API_KEY = "sk-secret-0042"
    settings.OPENAI_BASE_URL = "http://user:pw-9931@llm.internal:8080/v1"
    out = io.StringIO()

    call_command("llm_status", stdout=out)

    assert "llm.internal:8080" in out.getvalue()
    assert "pw-9931" not in out.getvalue()
    assert "sk-secret-0042" not in out.getvalue()
