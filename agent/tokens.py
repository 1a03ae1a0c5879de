"""Token counts for the prompt budgets, with the model's own tokenizer when we have it.

The budgets are shares of the model's context window (LLM_CONTEXT_TOKENS). For
OpenAI models tiktoken counts exactly; its byte-pair tables ship with the project
(`agent/tokenizers/`, since tiktoken would otherwise download them). Any other
model is counted at about four characters a token, a fair average for English
and SQL on the tokenizers open models use.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import threading
from pathlib import Path

import tiktoken
from django.conf import settings
from tiktoken.model import encoding_name_for_model

logger = logging.getLogger(__name__)

TOKENIZERS_DIR = Path(__file__).resolve().parent / "tokenizers"
# The encodings shipped in TOKENIZERS_DIR; a model on another one is estimated.
SHIPPED_ENCODINGS = ("o200k_base", "cl100k_base")
# What the tool definitions (names, descriptions, JSON schemas) add to each call.
TOOL_DEFINITIONS_TOKENS = 600

_encodings: dict[str, tiktoken.Encoding | None] = {}
_encodings_lock = threading.Lock()


def encoding_load(name: str) -> tiktoken.Encoding:
    """Build a tiktoken encoding from its shipped table (no network)."""
    with gzip.open(TOKENIZERS_DIR / f"{name}.json.gz", "rt", encoding="utf-8") as f:
        data = json.load(f)
    # Lines of "<prefix> <first rank> <token> <token> …", tokens in base64.
    ranks: dict[bytes, int] = {}
    for line in data["bpe_ranks"].split("\n"):
        if not line:
            continue
        _prefix, first, *tokens = line.split(" ")
        offset = int(first)
        for index, token in enumerate(tokens):
            ranks[base64.b64decode(token)] = offset + index
    return tiktoken.Encoding(
        name,
        pat_str=data["pat_str"],
        mergeable_ranks=ranks,
        special_tokens=data["special_tokens"],
    )


def encoding_for_model(model: str) -> tiktoken.Encoding | None:
    """Return the model's tokenizer, or None when it is not an OpenAI model."""
    # Gateways name models "openai/gpt-4.1-mini"; the tokenizer knows the last part.
    name = model.rsplit("/", 1)[-1].strip()
    if name in _encodings:  # every count asks: no lock once known
        return _encodings[name]
    with _encodings_lock:
        if name in _encodings:
            return _encodings[name]
        try:
            encoding_name = encoding_name_for_model(name)
        except KeyError:
            encoding_name = ""
        encoding = (
            encoding_load(encoding_name) if encoding_name in SHIPPED_ENCODINGS else None
        )
        _encodings[name] = encoding
        return encoding


def count_tokens(text: str, *, model: str | None = None) -> int:
    """Return the tokens `text` costs the configured model (estimated if unknown)."""
    encoding = encoding_for_model(model if model is not None else settings.OPENAI_MODEL)
    if encoding is None:
        return len(text) // 4 + 1
    return len(encoding.encode_ordinary(text))


def schema_token_budget() -> int:
    """Tokens the schema may take in the system prompt: SCHEMA_PROMPT_SHARE of the
    context window, unless SCHEMA_PROMPT_TOKEN_BUDGET sets it outright."""
    if settings.SCHEMA_PROMPT_TOKEN_BUDGET:
        return int(settings.SCHEMA_PROMPT_TOKEN_BUDGET)
    return int(settings.LLM_CONTEXT_TOKENS * settings.SCHEMA_PROMPT_SHARE)


def prompt_token_limit() -> int:
    """Tokens one request may carry: the context window less the reply's room."""
    return settings.LLM_CONTEXT_TOKENS - (settings.LLM_MAX_TOKENS or 0)
