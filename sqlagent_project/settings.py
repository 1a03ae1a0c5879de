"""Settings for SQLAgent, read from the environment (and `.env`) with django-environ.

Production differs from development by environment variables only; `.env.example`
documents every variable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = "0.1.0"

env = environ.Env()
# Values already in the environment win over the file, so tests and deployments
# can override any line of `.env`.
# ENV_FILE points elsewhere (or at nothing, as tests of a bare environment do).
environ.Env.read_env(
    os.environ.get("ENV_FILE", str(BASE_DIR / ".env")), overwrite=False
)

# SECURITY
SECRET_KEY = env.str("SECRET_KEY")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Comma-separated Fernet keys: the first encrypts, all of them decrypt.
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY")

# Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True
)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

# APPLICATIONS
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "accounts",
    "teams",
    "connections",
    "agent",
    # Creates the database cache table in `migrate` (when that cache is used).
    "sqlagent_project.dbcache",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A strict Content-Security-Policy with a per-request nonce (csp.py).
    "sqlagent_project.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "sqlagent_project.middleware.RequestLogMiddleware",
    "sqlagent_project.middleware.RequestBodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Browser requests: the session user on every log line of the request.
    "sqlagent_project.usercontext.UserLogContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a login lockout into its answer.
    "axes.middleware.AxesMiddleware",
]

# `make bench` serves bench/urls.py (the project plus a bare endpoint).
ROOT_URLCONF = env.str("ROOT_URLCONF", default="sqlagent_project.urls")
WSGI_APPLICATION = "sqlagent_project.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sqlagent_project.csp.csp_nonce",
            ],
        },
    },
]

# DATABASES
# The app's own database. SQLite by default (WAL + IMMEDIATE transactions: no
# "database is locked" under concurrent writers); PostgreSQL for production.
VAR_DIR = BASE_DIR / "var"
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'sqlagent.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# PostgreSQL: a pool of app-database connections per process (DB_POOL_MAX_SIZE=0
# turns it off). An ask hands its connection back while the model thinks, so a few
# connections serve many waiting asks; a request that finds none free within
# DB_POOL_TIMEOUT_S gets 503 + Retry-After instead of piling up on the server.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=8)
DB_POOL_TIMEOUT_S = env.float("DB_POOL_TIMEOUT_S", default=5.0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    if DB_POOL_MAX_SIZE > 0:
        # Pooled connections are not persistent ones: Django refuses both at once.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": DB_POOL_TIMEOUT_S,
        }
    else:
        DATABASES["default"].setdefault(
            "CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60)
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Shared by every worker process (rate-limit counters): a table in the app
# database by default (created by `migrate`), or e.g. redis://host:6379/1.
CACHES = {"default": env.cache_url("CACHE_URL", default="dbcache://sqlagent_cache")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # A Redis that does not answer fails a request in seconds, not minutes.
    CACHES["default"].setdefault("OPTIONS", {}).update(
        {"socket_connect_timeout": 2, "socket_timeout": 2}
    )
CACHES["default"].setdefault("KEY_PREFIX", env.str("CACHE_KEY_PREFIX", default=""))

# AUTH
AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked-out email+address before the password
# is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
_VALIDATORS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATORS}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATORS}.MinimumLengthValidator"},
    {"NAME": f"{_VALIDATORS}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATORS}.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# DRF
REST_FRAMEWORK = {
    # Personal access tokens (`Bearer sqa_…`) first; other bearer values are JWTs.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.PersonalAccessTokenAuthentication",
        # simplejwt's, plus the denylist a logout writes (accounts/revocation.py).
        "accounts.authentication.RevocableJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        # A token reaches only the views that name its scope (accounts/permissions.py).
        "accounts.permissions.TokenScopePermission",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["sqlagent_project.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "sqlagent_project.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "sqlagent_project.schema.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["sqlagent_project.throttling.ScopedSettingsThrottle"],
    # Proxies in front of the app that append to X-Forwarded-For; 0 trusts only
    # REMOTE_ADDR, so a client cannot pick its own address for the rate limits.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(
        minutes=env.int("JWT_ACCESS_TOKEN_MINUTES", default=30)
    ),
    "REFRESH_TOKEN_LIFETIME": timedelta(
        days=env.int("JWT_REFRESH_TOKEN_DAYS", default=7)
    ),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # last_login is stamped by the user_logged_in signal the login API sends.
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
}

# REQUEST BODIES
# Every route: a longer body answers 413, JSON nested deeper answers 400.
REQUEST_MAX_BYTES = env.int("REQUEST_MAX_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BYTES
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=32)

# RATE LIMITS AND LOCKOUT
# DRF rates ("<n>/<second|minute|hour|day>") per throttle_scope: login and
# register per client address, ask per user. Empty = unlimited.
THROTTLE_LOGIN_RATE = env.str("THROTTLE_LOGIN_RATE", default="20/minute")
THROTTLE_REGISTER_RATE = env.str("THROTTLE_REGISTER_RATE", default="20/hour")
THROTTLE_ASK_RATE = env.str("THROTTLE_ASK_RATE", default="30/minute")
# /mcp messages per user other than ask and run_sql (which count as asks).
THROTTLE_MCP_RATE = env.str("THROTTLE_MCP_RATE", default="120/minute")
# Daily budgets (UTC days) of questions to the model and of model tokens, counted
# from the stored turns: per user (every ask of theirs), and the default per team
# (asks on its connections; a team's admins may set their own). 0: no limit.
# Spent: /ask answers 429 budget_spent with when it resets.
BUDGET_USER_ASKS_PER_DAY = env.int("BUDGET_USER_ASKS_PER_DAY", default=0)
BUDGET_USER_TOKENS_PER_DAY = env.int("BUDGET_USER_TOKENS_PER_DAY", default=0)
BUDGET_TEAM_ASKS_PER_DAY = env.int("BUDGET_TEAM_ASKS_PER_DAY", default=0)
BUDGET_TEAM_TOKENS_PER_DAY = env.int("BUDGET_TEAM_TOKENS_PER_DAY", default=0)
# django-axes: this many failed logins for one email from one address lock that
# pair out for LOGIN_LOCKOUT_MINUTES (the same answer whether the email exists).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"
AXES_CLIENT_IP_CALLABLE = "sqlagent_project.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
# No banner on every management command.
AXES_VERBOSE = False

# TARGET DATABASES
# The engines a connection may use: database type (stored on each connection) →
# its `DatabaseBackend` class (connections/backends/). Adding an engine is one
# backend module and one line here; a backend that leaves a hook out is refused.
DATABASE_BACKENDS = {
    "postgresql": "connections.backends.postgresql.PostgreSQLBackend",
    "mysql": "connections.backends.mysql.MySQLBackend",
    "sqlite": "connections.backends.sqlite.SQLiteBackend",
}
# Hosts and networks (CIDR) connections may (allow; empty = any) or may not (deny)
# point at. Names are resolved and checked again at every connect.
TARGET_HOSTS_ALLOW = env.list("TARGET_HOSTS_ALLOW", default=[])
# Link-local and cloud metadata addresses: refused for databases and webhooks.
_HOSTS_DENY_DEFAULT = ["169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "0.0.0.0/8"]
TARGET_HOSTS_DENY = env.list("TARGET_HOSTS_DENY", default=_HOSTS_DENY_DEFAULT)
# Roles that are superusers or may reach server files, run programs or write
# beyond their database are refused unless this is on (they are still warned about).
ALLOW_PRIVILEGED_CONNECTIONS = env.bool("ALLOW_PRIVILEGED_CONNECTIONS", default=False)
TARGET_CONNECT_TIMEOUT_S = env.int("TARGET_CONNECT_TIMEOUT_S", default=5)
# One pool per target database (engine, host, port, database, user, options and
# password), shared by every session of every user in a process: at most
# TARGET_DB_MAX_CONNECTIONS connections to one database per process, each closed
# once idle for TARGET_DB_IDLE_TIMEOUT_S. An ask that finds them all busy waits
# up to TARGET_CONNECT_TIMEOUT_S, then gets 503 database_busy + Retry-After.
TARGET_DB_POOL_SCOPE = env.str("TARGET_DB_POOL_SCOPE", default="database")
if TARGET_DB_POOL_SCOPE not in {"database", "session"}:
    raise ImproperlyConfigured(
        f"TARGET_DB_POOL_SCOPE must be 'database' or 'session', not "
        f"{TARGET_DB_POOL_SCOPE!r}."
    )
TARGET_DB_MAX_CONNECTIONS = env.int("TARGET_DB_MAX_CONNECTIONS", default=5)
if TARGET_DB_MAX_CONNECTIONS < 1:
    raise ImproperlyConfigured("TARGET_DB_MAX_CONNECTIONS must be at least 1.")
TARGET_DB_IDLE_TIMEOUT_S = env.float("TARGET_DB_IDLE_TIMEOUT_S", default=3.0)
# TARGET_DB_POOL_SCOPE=session (the design before issue 21, for comparison): a
# pool per session of this size and overflow.
TARGET_POOL_SIZE = env.int("TARGET_POOL_SIZE", default=2)
TARGET_MAX_OVERFLOW = env.int("TARGET_MAX_OVERFLOW", default=2)
# The only folder SQLite connections may point into.
SQLITE_DATABASES_DIR = Path(
    env.str("SQLITE_DATABASES_DIR", default=str(VAR_DIR / "databases"))
).resolve()

# CAPACITY
# Asks a process runs at once (each waits on the model); one more waits up to
# ASK_QUEUE_TIMEOUT_S for a slot, then gets 503 ask_pool_full + Retry-After.
ASK_MAX_CONCURRENT = env.int("ASK_MAX_CONCURRENT", default=400)
ASK_QUEUE_TIMEOUT_S = env.float("ASK_QUEUE_TIMEOUT_S", default=10.0)
# Asks of a process running their own Python at once (the agent loop between
# waits); the others queue for a slot, so pages stay quick under a crowd of asks.
# Waiting on the model or on a query holds none. 0: no limit.
ASK_CPU_SLOTS = env.int("ASK_CPU_SLOTS", default=1)

# AGENT
# Engine cache: each active session's entry (its database's shared pool, and the
# schema catalog kept per connection version), per process. Sized for the
# sessions a process serves at once (every user of a busy service reaches every
# worker): past it, each ask rebuilds its entry.
# 1,024 holds 500 users asking at once: each reaches every worker, and below
# the number of users an LRU cache asked round the circle misses every time.
# An entry is about 0.3 MB; ENGINE_CACHE_IDLE_TIMEOUT_S drops idle ones (and a
# database pool unused that long).
ENGINE_CACHE_MAX_SIZE = env.int("ENGINE_CACHE_MAX_SIZE", default=1024)
ENGINE_CACHE_IDLE_TIMEOUT_S = env.int("ENGINE_CACHE_IDLE_TIMEOUT_S", default=900)

# Query bounds on every user database.
QUERY_TIMEOUT_S = env.float("QUERY_TIMEOUT_S", default=10.0)
# Seconds a statement still running at its deadline (a cancel the server only
# honours between steps of its work) is given before the service closes its
# connection and terminates its session on the server through another one.
QUERY_TIMEOUT_GRACE_S = env.float("QUERY_TIMEOUT_GRACE_S", default=2.0)
QUERY_MAX_ROWS = env.int("QUERY_MAX_ROWS", default=1000)
# Bytes of one cell the user sees (longer ones are cut and marked) and of a whole
# result (rows past it are dropped and the result marked truncated).
QUERY_MAX_CELL_BYTES = env.int("QUERY_MAX_CELL_BYTES", default=65536)
QUERY_MAX_RESULT_BYTES = env.int("QUERY_MAX_RESULT_BYTES", default=10 * 1024 * 1024)
# Rows of a turn's export (its SQL run again, CSV or Excel); the byte cap above
# still holds, and the file says where it stopped.
EXPORT_MAX_ROWS = env.int("EXPORT_MAX_ROWS", default=100_000)
# Characters of one cell the LLM sees (agent.sql_guard.bounds.cell_for_llm).
LLM_MAX_CELL_CHARS = env.int("LLM_MAX_CELL_CHARS", default=2000)
# What the LLM sees of a result is smaller than what the user gets back.
LLM_RESULT_MAX_ROWS = env.int("LLM_RESULT_MAX_ROWS", default=50)
LLM_RESULT_MAX_CHARS = env.int("LLM_RESULT_MAX_CHARS", default=6000)

# The LLM: which provider (agent.llm.providers.PROVIDERS) builds the chat model;
# "openai" is OpenAI or any OpenAI-compatible server.
LLM_PROVIDER = env.str("LLM_PROVIDER", default="openai")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
OPENAI_MODEL = env.str("OPENAI_MODEL", default="gpt-4.1-mini")
# LLM_PROVIDER=azure: one Azure OpenAI deployment (agent/llm/providers/azure.py).
AZURE_OPENAI_ENDPOINT = env.str("AZURE_OPENAI_ENDPOINT", default="")
AZURE_OPENAI_API_KEY = env.str("AZURE_OPENAI_API_KEY", default="")
AZURE_OPENAI_DEPLOYMENT = env.str("AZURE_OPENAI_DEPLOYMENT", default="")
AZURE_OPENAI_API_VERSION = env.str("AZURE_OPENAI_API_VERSION", default="2024-10-21")
# LLM_PROVIDER=anthropic: the Messages API (agent/llm/providers/anthropic.py).
ANTHROPIC_API_KEY = env.str("ANTHROPIC_API_KEY", default="")
ANTHROPIC_MODEL = env.str("ANTHROPIC_MODEL", default="claude-sonnet-4-5")
ANTHROPIC_BASE_URL = env.str("ANTHROPIC_BASE_URL", default="")
LLM_TIMEOUT_S = env.float("LLM_TIMEOUT_S", default=60.0)
LLM_MAX_RETRIES = env.int("LLM_MAX_RETRIES", default=2)
# One ask's whole model time (every call and retry of its agent loop, streamed or
# not): past it the ask ends with llm_timeout instead of waiting on.
LLM_ASK_BUDGET_S = env.float("LLM_ASK_BUDGET_S", default=180.0)
# The model's context window in tokens; the prompt budgets are shares of it.
LLM_CONTEXT_TOKENS = env.int("LLM_CONTEXT_TOKENS", default=32768)
LLM_TEMPERATURE = env.float("LLM_TEMPERATURE", default=0.0)
# The longest reply the model may generate per call (0: no cap sent).
LLM_MAX_TOKENS = env.int("LLM_MAX_TOKENS", default=1024)
# How the model is asked for SQL (agent/llm/text_protocol.py): "native" offers
# tools, "text" asks for one statement in a ```sql block and shows the model its
# rows, "auto" offers tools and switches a model to text (for this process) when
# its server refuses tools or after LLM_TEXT_PROTOCOL_AFTER first replies in a
# row that called none.
LLM_TOOL_PROTOCOL = env.str("LLM_TOOL_PROTOCOL", default="auto")
LLM_TEXT_PROTOCOL_AFTER = env.int("LLM_TEXT_PROTOCOL_AFTER", default=3)
# Characters of a reasoning model's thoughts kept on the turn for the admin.
LLM_REASONING_MAX_CHARS = env.int("LLM_REASONING_MAX_CHARS", default=20000)
# Steps of the agent loop (each LLM call and each tool call is a step).
AGENT_MAX_STEPS = env.int("AGENT_MAX_STEPS", default=16)
# The share of LLM_CONTEXT_TOKENS the schema may take in the system prompt: up to
# it the whole schema goes in, past it the table list (see agent/tokens.py).
SCHEMA_PROMPT_SHARE = env.float("SCHEMA_PROMPT_SHARE", default=0.2)
# An absolute schema budget in tokens instead of the share (unset: the share).
SCHEMA_PROMPT_TOKEN_BUDGET = env.int("SCHEMA_PROMPT_TOKEN_BUDGET", default=None)
# Prior turns replayed to the LLM as conversation history.
THREAD_HISTORY_TURNS = env.int("THREAD_HISTORY_TURNS", default=10)
QUESTION_MAX_LENGTH = env.int("QUESTION_MAX_LENGTH", default=4000)
# Charts: bars past this many categories keep the top ones; results with more
# rows than CHART_MAX_POINTS get no chart.
CHART_MAX_CATEGORIES = env.int("CHART_MAX_CATEGORIES", default=20)
CHART_MAX_POINTS = env.int("CHART_MAX_POINTS", default=5000)
# SQL a user writes or edits and runs directly (POST /ask/sql).
SQL_MAX_LENGTH = env.int("SQL_MAX_LENGTH", default=20000)
# Streamed asks (POST /ask with Accept: text/event-stream): a comment line goes
# out after this many idle seconds, so proxies keep the stream open and a client
# that went away is noticed while the model thinks.
ASK_STREAM_HEARTBEAT_S = env.float("ASK_STREAM_HEARTBEAT_S", default=5.0)
# Functions the statement check lets the agent call beyond its built-in
# allow-list of read-only functions (e.g. a user-defined read-only function):
# "name" (any schema) or "schema.name". Known side-effect functions stay refused.
SQL_EXTRA_ALLOWED_FUNCTIONS = env.list("SQL_EXTRA_ALLOWED_FUNCTIONS", default=[])
# Rows an MCP tool (ask, run_sql) returns to the calling AI client.
MCP_RESULT_MAX_ROWS = env.int("MCP_RESULT_MAX_ROWS", default=100)

# INTERNATIONALIZATION
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# STATIC FILES
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "sqlagent_project" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# LOGGING
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# plain: one readable line per record; json: one JSON object per line.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'plain' or 'json'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        # request_id, user_id and session_id of the current request on every record
        "context": {"()": "sqlagent_project.logformat.ContextFilter"},
    },
    "formatters": {
        # Both redact anything shaped like a password, token or API key.
        "plain": {"()": "sqlagent_project.logformat.PlainFormatter"},
        "json": {"()": "sqlagent_project.logformat.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # The request line already carries every 4xx; keep Django's for 5xx.
        "django.request": {"level": "ERROR"},
        "httpx": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
    },
}

# API DOCS
SPECTACULAR_SETTINGS = {
    "TITLE": "SQLAgent API",
    "DESCRIPTION": "Ask questions of your own databases in plain language.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set that several fields share.
    "ENUM_NAME_OVERRIDES": {
        "TurnSourceEnum": "agent.models.TurnSource",
        "EvaluationRunStatusEnum": "knowledge.models.RunStatus",
        "DeliveryStatusEnum": "schedules.models.Delivery",
    },
}

# KNOWLEDGE (retrieval into prompts, evaluation runs)
INSTALLED_APPS += ["knowledge"]
KNOWLEDGE_TOP_K_EXAMPLES = env.int("KNOWLEDGE_TOP_K_EXAMPLES", default=3)
KNOWLEDGE_TOP_K_INSTRUCTIONS = env.int("KNOWLEDGE_TOP_K_INSTRUCTIONS", default=5)
KNOWLEDGE_TOP_K_TABLES = env.int("KNOWLEDGE_TOP_K_TABLES", default=5)
# What one connection may keep (retrieval indexes all of it; beyond: a 400),
# and the most lines one import file may bring.
KNOWLEDGE_MAX_EXAMPLES = env.int("KNOWLEDGE_MAX_EXAMPLES", default=10000)
KNOWLEDGE_MAX_INSTRUCTIONS = env.int("KNOWLEDGE_MAX_INSTRUCTIONS", default=1000)
KNOWLEDGE_MAX_DESCRIPTIONS = env.int("KNOWLEDGE_MAX_DESCRIPTIONS", default=10000)
KNOWLEDGE_IMPORT_MAX_LINES = env.int("KNOWLEDGE_IMPORT_MAX_LINES", default=2000)
# A question the model or the database could not be asked (unreachable, a worker
# shutting down) is retried this many times, EVALUATION_RETRY_DELAY_S apart
# (doubling), before it is counted as unanswered: never as wrong.
EVALUATION_QUESTION_RETRIES = env.int("EVALUATION_QUESTION_RETRIES", default=2)
EVALUATION_RETRY_DELAY_S = env.float("EVALUATION_RETRY_DELAY_S", default=2.0)

# ---- issue 24 (queue helper): interrupted in-process evaluation runs --------
# Without a broker, a run a web process left unfinished (graceful reload, killed
# worker, restart) is claimed again and resumed by a web process: after a
# response, at most every 15 s (knowledge/interrupted.py). No setting of its own.
MIDDLEWARE += ["knowledge.middleware.InterruptedRunsResumeMiddleware"]
# ---- end (interrupted in-process evaluation runs) ----------------------------

# TASK QUEUE (Celery; sqlagent_project/celery.py and queue.py)
# The broker, e.g. redis://127.0.0.1:6379/2. Empty (the default): background work
# runs on a thread pool in the web process and nothing more is needed.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
# Task state and results in the app database (the admin lists them).
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_TRACK_STARTED = True
# The in-process path records its runs too.
CELERY_TASK_STORE_EAGER_RESULT = True
# Acknowledged when done, not when taken: a worker killed mid-task leaves it to
# be delivered again (after the visibility timeout) to another worker.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Seconds an unacknowledged task waits before Redis gives it to another worker:
# longer than the longest task (an evaluation run resumes where it stopped, so
# a second delivery of a live run only repeats no question).
CELERY_VISIBILITY_TIMEOUT_S = env.int("CELERY_VISIBILITY_TIMEOUT_S", default=3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT_S}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = CELERY_BROKER_TRANSPORT_OPTIONS
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Schedules live in the app database (django-celery-beat): one `beat` for all hosts.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Periodic work beat sends (kept in the app database by the scheduler above).
CELERY_BEAT_SCHEDULE = {
    "turns-fail-orphaned": {"task": "agent.turns_fail_orphaned", "schedule": 60.0},
    "schedules-dispatch-due": {"task": "schedules.dispatch_due", "schedule": 30.0},
}
# ---- issue 24 (queue helper): the shared schema catalog of big databases ----
# With a broker, the schema catalog (table and view names, column names and
# types; never a value) of a database of at least CATALOG_SHARED_MIN_TABLES
# tables is read once per connection version by a worker task and kept in the
# shared cache (CACHE_URL) for CATALOG_MAX_AGE_S seconds; every web process on
# every host starts from it instead of reading the database itself. A request
# waits up to CATALOG_BUILD_WAIT_S for the worker, then reads for itself (so it
# does at once when no worker was seen lately). 0 tables: every database.
# Without a broker each process reads its own catalog, as before.
CATALOG_SHARED_MIN_TABLES = env.int("CATALOG_SHARED_MIN_TABLES", default=200)
CATALOG_BUILD_WAIT_S = env.float("CATALOG_BUILD_WAIT_S", default=20.0)
CATALOG_MAX_AGE_S = env.int("CATALOG_MAX_AGE_S", default=3600)
# ---- end (shared schema catalog) ---------------------------------------------
# Threads of the in-process path (no broker) running background tasks.
TASKS_IN_PROCESS_WORKERS = env.int("TASKS_IN_PROCESS_WORKERS", default=2)
# /health calls the queue healthy while a worker answered within this many seconds.
CELERY_WORKER_SEEN_S = env.int("CELERY_WORKER_SEEN_S", default=120)
INSTALLED_APPS += ["django_celery_results", "django_celery_beat"]

# SCHEDULES (scheduled questions, delivered by email and webhook)
INSTALLED_APPS += ["schedules"]
# This service's address as its users reach it: links in deliveries.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Email: Django's standard settings. Without EMAIL_HOST, mail is written to the
# console (the `make run` default) instead of sent.
EMAIL_HOST = env.str("EMAIL_HOST", default="")
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="sqlagent@localhost")
# Where webhooks may go: as TARGET_HOSTS_* (allow empty = any host; link-local
# and metadata addresses refused), checked at creation and at every delivery.
WEBHOOK_HOSTS_ALLOW = env.list("WEBHOOK_HOSTS_ALLOW", default=[])
WEBHOOK_HOSTS_DENY = env.list("WEBHOOK_HOSTS_DENY", default=_HOSTS_DENY_DEFAULT)
WEBHOOK_TIMEOUT_S = env.float("WEBHOOK_TIMEOUT_S", default=10.0)
# A failed webhook POST (network error, 429 or 5xx) is tried again this many
# times, WEBHOOK_RETRY_DELAY_S apart, doubling.
WEBHOOK_RETRIES = env.int("WEBHOOK_RETRIES", default=3)
WEBHOOK_RETRY_DELAY_S = env.float("WEBHOOK_RETRY_DELAY_S", default=2.0)
# Rows of the answer a delivery carries (never any on a schema-tier connection).
SCHEDULE_DELIVERY_ROWS = env.int("SCHEDULE_DELIVERY_ROWS", default=20)
# After this many failed runs in a row the owner gets one email; after
# SCHEDULE_FAILURES_PAUSE the schedule pauses itself.
SCHEDULE_FAILURES_NOTIFY = env.int("SCHEDULE_FAILURES_NOTIFY", default=3)
SCHEDULE_FAILURES_PAUSE = env.int("SCHEDULE_FAILURES_PAUSE", default=5)
# Without a broker (no beat), the web process dispatches due slots after a
# request, at most every 30 s (schedules/middleware.py).
SCHEDULES_DISPATCH_IN_PROCESS = env.bool("SCHEDULES_DISPATCH_IN_PROCESS", default=True)
MIDDLEWARE += ["schedules.middleware.InProcessDispatchMiddleware"]

# VALUES: the value index per connection (text columns of few distinct values,
# matched against each question), find_values and the empty-result diagnosis.
# A column with more distinct values than VALUE_INDEX_MAX_DISTINCT is not
# indexed; one connection keeps at most VALUE_INDEX_MAX_VALUES values and
# VALUE_INDEX_MAX_BYTES bytes of them, read from at most VALUE_INDEX_MAX_COLUMNS
# columns. Built in the background after a connect when missing or older than
# VALUE_INDEX_MAX_AGE_S, and on request.
VALUE_INDEX_MAX_DISTINCT = env.int("VALUE_INDEX_MAX_DISTINCT", default=200)
VALUE_INDEX_MAX_VALUES = env.int("VALUE_INDEX_MAX_VALUES", default=20000)
VALUE_INDEX_MAX_BYTES = env.int("VALUE_INDEX_MAX_BYTES", default=1_000_000)
VALUE_INDEX_MAX_COLUMNS = env.int("VALUE_INDEX_MAX_COLUMNS", default=2000)
VALUE_INDEX_ON_CONNECT = env.bool("VALUE_INDEX_ON_CONNECT", default=True)
VALUE_INDEX_MAX_AGE_S = env.int("VALUE_INDEX_MAX_AGE_S", default=86400)
VALUE_LOOKUP_TIMEOUT_S = env.float("VALUE_LOOKUP_TIMEOUT_S", default=5.0)
VALUE_MATCHES_MAX = env.int("VALUE_MATCHES_MAX", default=8)
# Literals of one empty result checked against their columns (each costs up to
# three bounded queries).
EMPTY_RESULT_MAX_LITERALS = env.int("EMPTY_RESULT_MAX_LITERALS", default=4)

# BOARDS (saved answers whose SQL runs again when a board is opened)
INSTALLED_APPS += ["boards"]
BOARD_MAX_TILES = env.int("BOARD_MAX_TILES", default=24)
# Rows each tile fetches (the query bounds hold too) and the page's refresh.
BOARD_TILE_MAX_ROWS = env.int("BOARD_TILE_MAX_ROWS", default=1000)
BOARD_REFRESH_S = env.int("BOARD_REFRESH_S", default=300)
