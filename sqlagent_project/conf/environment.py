"""The environment every other settings module reads: the checkout, `.env`, `env`."""

from __future__ import annotations

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VERSION = "0.1.0"
# Local state: the default SQLite app database and the SQLite target files.
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# Values already in the environment win over the file, so tests and deployments
# can override any line of `.env`.
# ENV_FILE points elsewhere (or at nothing, as tests of a bare environment do).
environ.Env.read_env(
    os.environ.get("ENV_FILE", str(BASE_DIR / ".env")), overwrite=False
)
