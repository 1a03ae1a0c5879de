"""Production settings pass Django's deployment checks with no warning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parents[2]

# The production variables `.env.example` documents.
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "pB8x-7Kq_2mZr4Tn9Wc1Ls6Hy3Jd5Fv0Ga8Ue2Qo7Xi4Nb1Mk9Rt6Yw3Ep5Cs0Zl",
    "ALLOWED_HOSTS": "sqlagent.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://sqlagent.example.com",
    "SECURE_HSTS_PRELOAD": "1",
    "LOG_FORMAT": "json",
    "NUM_PROXIES": "1",
    # The secure defaults of DEBUG=0, stated so a developer's .env cannot weaken them.
    "SECURE_SSL_REDIRECT": "1",
    "SESSION_COOKIE_SECURE": "1",
    "CSRF_COOKIE_SECURE": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
}


def _check_deploy(**overrides: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": os.environ["DATABASE_URL"],
        # The deploy check tries the cache; this run's app database is not
        # migrated (the cache check has its own tests in test_production.py).
        "CACHE_URL": "locmemcache://",
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        **PRODUCTION_ENV,
        **overrides,
    }
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_production_variable_is_documented_in_env_example():
    documented = (BASE_DIR / ".env.example").read_text()
    missing = [name for name in PRODUCTION_ENV if f"{name}=" not in documented]
    assert missing == []


@pytest.mark.slow  # a manage.py subprocess
def test_production_settings_pass_check_deploy_with_no_warning():
    result = _check_deploy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow  # a manage.py subprocess each
@pytest.mark.parametrize(
    ("name", "value", "warning"),
    [
        ("SECURE_SSL_REDIRECT", "0", "security.W008"),
        ("SESSION_COOKIE_SECURE", "0", "security.W012"),
        ("SECURE_HSTS_SECONDS", "0", "security.W004"),
        ("SECRET_KEY", "short", "security.W009"),
    ],
)
def test_check_deploy_fails_when_a_production_setting_is_weakened(name, value, warning):
    result = _check_deploy(**{name: value})
    assert result.returncode != 0
    assert warning in result.stderr + result.stdout
