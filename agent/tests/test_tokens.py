"""Prompt budgets count with the model's tokenizer, shipped with the project."""

from __future__ import annotations

import socket

import pytest

from agent.tokens import (
    count_tokens,
    encoding_for_model,
    prompt_token_limit,
    schema_token_budget,
)


@pytest.mark.parametrize(
    ("model", "text", "ids"),
    [
        # Token ids as OpenAI's tiktoken gives them for each encoding.
        ("gpt-4.1-mini", "hello world", [24912, 2375]),
        ("gpt-4o", "hello world", [24912, 2375]),
        ("gpt-4", "hello world", [15339, 1917]),
        ("gpt-3.5-turbo", "SELECT 1", [4963, 220, 16]),
    ],
)
def test_openai_models_are_counted_with_their_own_tokenizer(model, text, ids):
    encoding = encoding_for_model(model)
    assert encoding is not None
    assert encoding.encode_ordinary(text) == ids
    assert count_tokens(text, model=model) == len(ids)


def test_a_gateway_prefix_does_not_hide_the_model():
    assert encoding_for_model("openai/gpt-4o") is encoding_for_model("gpt-4o")


def test_other_models_are_estimated_at_four_characters_a_token():
    assert encoding_for_model("llama3.1:8b") is None
    assert count_tokens("x" * 400, model="llama3.1:8b") == 101


def test_the_tokenizer_loads_without_the_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the tokenizer tried to reach the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    from agent import tokens

    monkeypatch.setattr(tokens, "_encodings", {})
    assert count_tokens("hello world", model="gpt-4.1") == 2


def test_the_schema_budget_is_a_share_of_the_context_window(settings):
    settings.SCHEMA_PROMPT_TOKEN_BUDGET = None
    settings.LLM_CONTEXT_TOKENS = 128000
    settings.SCHEMA_PROMPT_SHARE = 0.25
    assert schema_token_budget() == 32000

    settings.SCHEMA_PROMPT_TOKEN_BUDGET = 5000
    assert schema_token_budget() == 5000


def test_a_request_leaves_room_for_the_reply(settings):
    settings.LLM_CONTEXT_TOKENS = 8192
    settings.LLM_MAX_TOKENS = 1024
    assert prompt_token_limit() == 7168
