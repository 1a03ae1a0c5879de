"""The LLM: its provider, model, time budget, context window and tool protocol."""

from __future__ import annotations

from sqlagent_project.conf.environment import env

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
