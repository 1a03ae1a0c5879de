"""Target databases: engines, reachable hosts, pools, the engine cache, query bounds."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from sqlagent_project.conf.environment import VAR_DIR, env

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

# ENGINE CACHE
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
