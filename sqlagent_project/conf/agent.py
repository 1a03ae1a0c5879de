"""Asks: capacity, the agent loop, questions, charts, streaming, MCP and boards."""

from __future__ import annotations

from sqlagent_project.conf.environment import env

# CAPACITY
# Asks a process runs at once (each waits on the model); one more waits up to
# ASK_QUEUE_TIMEOUT_S for a slot, then gets 503 ask_pool_full + Retry-After.
ASK_MAX_CONCURRENT = env.int("ASK_MAX_CONCURRENT", default=400)
ASK_QUEUE_TIMEOUT_S = env.float("ASK_QUEUE_TIMEOUT_S", default=10.0)
# Asks of a process running their own Python at once (the agent loop between
# waits); the others queue for a slot, so pages stay quick under a crowd of asks.
# Waiting on the model or on a query holds none. 0: no limit.
ASK_CPU_SLOTS = env.int("ASK_CPU_SLOTS", default=1)

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

# BOARDS (saved answers whose SQL runs again when a board is opened)
BOARD_MAX_TILES = env.int("BOARD_MAX_TILES", default=24)
# Rows each tile fetches (the query bounds hold too) and the page's refresh.
BOARD_TILE_MAX_ROWS = env.int("BOARD_TILE_MAX_ROWS", default=1000)
BOARD_REFRESH_S = env.int("BOARD_REFRESH_S", default=300)
