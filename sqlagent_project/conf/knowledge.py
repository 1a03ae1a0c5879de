"""Knowledge: retrieval into prompts, evaluation runs and the value index."""

from __future__ import annotations

from sqlagent_project.conf.environment import env

# KNOWLEDGE (retrieval into prompts, evaluation runs)
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
# Without a broker, web processes resume evaluation runs another process left
# (after a response, at most every 15 s); tests turn it off and on themselves.
EVALUATION_RESUME_IN_PROCESS = env.bool("EVALUATION_RESUME_IN_PROCESS", default=True)

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
