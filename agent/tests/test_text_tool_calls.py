"""Tool calls written as text are read only when certain; thoughts are split
from the answer; the streamed words hold back thoughts and written calls."""

from __future__ import annotations

import json

import pytest

from agent.llm.answer_stream import AnswerTokens
from agent.llm.reasoning import split_thoughts
from agent.llm.text_protocol import sql_from_text, tools_refused
from agent.llm.text_tool_calls import tool_calls_from_text

TOOLS = {"list_tables", "describe_tables", "run_query", "choose_chart"}
CALL = {"name": "run_query", "arguments": {"sql": "SELECT 1"}}


@pytest.mark.parametrize(
    "text",
    [
        f"<tool_call>{json.dumps(CALL)}</tool_call>",
        f"Let me look.\n<tool_call>\n{json.dumps(CALL)}\n</tool_call>",
        f"<tool_call>{json.dumps(CALL)}",  # the closing tag cut off
        f"```json\n{json.dumps(CALL, indent=2)}\n```",
        f"```\n{json.dumps(CALL)}\n```",
        json.dumps(CALL),
        json.dumps({"name": "run_query", "arguments": json.dumps({"sql": "SELECT 1"})}),
        json.dumps({"type": "function", "function": CALL}),
        f"[TOOL_CALLS] {json.dumps([CALL])}",
        '[TOOL_CALLS]run_query[ARGS]{"sql": "SELECT 1"}',
        '<|python_tag|>{"name": "run_query", "parameters": {"sql": "SELECT 1"}}',
    ],
)
def test_a_call_written_in_any_known_shape_is_read(text):
    read = tool_calls_from_text(text, TOOLS)

    assert read is not None
    assert [(c.name, c.args) for c in read.calls] == [
        ("run_query", {"sql": "SELECT 1"})
    ]
    assert "run_query" not in read.prose


def test_several_llama_calls_separated_by_semicolons_are_all_read():
    text = (
        '<|python_tag|>{"name": "list_tables", "parameters": {}}; '
        '{"name": "run_query", "parameters": {"sql": "SELECT \'a;b\'"}}'
    )

    read = tool_calls_from_text(text, TOOLS)

    assert read is not None
    assert [c.name for c in read.calls] == ["list_tables", "run_query"]
    assert read.calls[1].args == {"sql": "SELECT 'a;b'"}


@pytest.mark.parametrize(
    "text",
    [
        # An unknown tool, broken JSON, arguments that are no object.
        '<tool_call>{"name": "drop_all", "arguments": {}}</tool_call>',
        '<tool_call>{"name": "run_query", "arguments": {"sql": "SELECT 1"</tool_call>',
        '<tool_call>{"name": "run_query", "arguments": "SELECT 1"}</tool_call>',
        # One readable call beside an unreadable one: neither runs.
        f"<tool_call>{json.dumps(CALL)}</tool_call><tool_call>{{oops}}</tool_call>",
        # Two argument keys: which one was meant is not certain.
        '{"name": "run_query", "arguments": {"sql": "SELECT 1"}, "parameters": {}}',
        # JSON data in an answer, not a call.
        '```json\n{"name": "Ada", "country": "Germany"}\n```',
        "The customers are Ada and Chen.",
        '[TOOL_CALLS] [{"name": "run_query"}]',
    ],
)
def test_what_cannot_be_read_with_certainty_is_no_call(text):
    assert tool_calls_from_text(text, TOOLS) is None


def test_thoughts_are_split_from_the_answer():
    assert split_thoughts("<think>hmm</think>\n\nThe answer.") == (
        split_thoughts("The answer.").__class__("The answer.", "hmm")
    )
    # Opened by the chat template: only the closing tag is in the reply.
    assert split_thoughts("hmm, rows</think>Three.").answer == "Three."
    # Cut off while thinking: all thoughts, no answer.
    assert split_thoughts("<think>still thinking").answer == ""


def test_streamed_words_hold_back_thoughts_and_calls():
    tokens = AnswerTokens()
    pieces = ["<", "think", ">secret ", "stuff</th", "ink>\n\n", "Three ", "rows."]
    shown = "".join(tokens.feed(p) for p in pieces)
    assert shown == "Three rows."
    assert tokens.finish("Three rows.") == ""

    pieces = ["Let me check.\n", "<tool", "_call>", '{"name": "run_query"}']
    shown = "".join(tokens.feed(p) for p in pieces)
    assert shown == "Let me check.\n"
    assert tokens.finish(None) == ""

    # A fence held back turns out to be part of the answer: it goes out at the end.
    shown = "".join(tokens.feed(p) for p in ["Use ", "```sql\nSELECT 1\n```", " ok"])
    assert shown == "Use "
    assert tokens.finish("Use ```sql\nSELECT 1\n``` ok") == "```sql\nSELECT 1\n``` ok"


def test_one_sql_block_is_the_statement_and_several_are_none():
    assert sql_from_text("Here:\n```sql\nSELECT 1\n```") == "SELECT 1"
    assert sql_from_text("```sql\nSELECT 1\n```\n```sql\nSELECT 2\n```") is None
    assert sql_from_text("SELECT 1") is None


class _Refused(Exception):
    status_code = 400


@pytest.mark.parametrize(
    "message",
    [
        "registry.ollama.ai/library/gemma:2b does not support tools",
        '"auto" tool choice requires --enable-auto-tool-choice and '
        "--tool-call-parser to be set",
        "This model does not support function calling: tool use is not supported",
    ],
)
def test_servers_refusing_tools_are_recognised(message):
    assert tools_refused(_Refused(message))


def test_other_bad_requests_are_not_taken_for_a_refusal_of_tools():
    assert not tools_refused(_Refused("maximum context length is 8192 tokens"))


def test_thoughts_kept_on_the_turn_are_bounded_and_counted(settings):
    from langchain_core.messages import AIMessage

    from agent.llm.reasoning import run_thoughts

    settings.LLM_REASONING_MAX_CHARS = 50
    replies = [
        AIMessage("<think>" + "why " * 40 + "</think>Three."),
        AIMessage(
            "Done.",
            additional_kwargs={"reasoning_content": "more"},
            usage_metadata={
                "input_tokens": 1,
                "output_tokens": 9,
                "total_tokens": 10,
                "output_token_details": {"reasoning": 7},
            },
        ),
    ]

    kept = run_thoughts(replies)

    assert kept.text.startswith("why why")
    assert len(kept.text) <= 50 + len("\n[… cut]")
    assert kept.text.endswith("[… cut]")
    # Counted from the text where the server gives no count, else the server's.
    assert kept.tokens > 7
