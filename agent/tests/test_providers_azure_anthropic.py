"""Azure OpenAI and Anthropic behind the provider seam: each against a loopback
stub speaking its real wire format (tool calls and streaming included), with
its own errors told in the service's words."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.llm.budget import BoundedChatModel
from agent.llm.chat_model import chat_model_create, llm_settings
from agent.llm.text_protocol import protocol_memory
from agent.models import Turn
from testsupport.anthropic_stub import StubAnthropicServer, anthropic_keyword_responder
from testsupport.llm_stub import StubLLMServer, StubReply, keyword_responder

# The streamed ask finishes its turn in a worker thread: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

GERMANY_SQL = (
    "SELECT id, name, country FROM customers WHERE country = 'Germany' ORDER BY id"
)
GERMANY_ROWS = [
    [1, "Ada Lovelace", "Germany"],
    [3, "Chen Wei", "Germany"],
    [6, "Fatima Zahra", "Germany"],
]


@pytest.fixture(autouse=True)
def _protocols_forgotten():
    protocol_memory.forget()
    yield
    protocol_memory.forget()


@pytest.fixture
def anthropic_stub(settings: Any):
    with StubAnthropicServer(anthropic_keyword_responder(GERMANY_SQL)) as stub:
        settings.LLM_PROVIDER = "anthropic"
        settings.ANTHROPIC_API_KEY = "sk-ant-test"
        settings.ANTHROPIC_MODEL = "claude-stub"
        settings.ANTHROPIC_BASE_URL = stub.base_url
        settings.LLM_MAX_RETRIES = 0
        settings.LLM_TIMEOUT_S = 5
        yield stub


@pytest.fixture
def azure_stub(settings: Any):
    with StubLLMServer(responder=keyword_responder()) as stub:
        settings.LLM_PROVIDER = "azure"
        settings.AZURE_OPENAI_ENDPOINT = stub.base_url.removesuffix("/v1")
        settings.AZURE_OPENAI_API_KEY = "azure-key-0123"
        settings.AZURE_OPENAI_DEPLOYMENT = "sql-gpt"
        settings.AZURE_OPENAI_API_VERSION = "2024-10-21"
        settings.LLM_MAX_RETRIES = 0
        settings.LLM_TIMEOUT_S = 5
        yield stub


def _connect(client: Any, make_connection: Any, owner: Any) -> None:
    connection = make_connection(owner, "sqlite")
    assert client.post(f"/databases/connect_db/{connection.id}").status_code == 200


def _ask(client: Any, *, stream: bool) -> tuple[int, dict[str, Any], str]:
    """Return the status, the answer body and the streamed tokens."""
    extra = {"HTTP_ACCEPT": "text/event-stream"} if stream else {}
    response = client.post(
        "/ask", {"question": "Which customers live in Germany?"}, format="json", **extra
    )
    if not stream:
        return response.status_code, response.json(), ""
    raw = b"".join(response.streaming_content).decode()
    events = []
    for frame in raw.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    tokens = "".join(d["text"] for n, d in events if n == "token")
    name, data = events[-1]
    status = 200 if name == "done" else data.get("status", 500)
    return status, data, tokens


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_answers_with_its_tool_use_on_the_messages_api(
    alice_client, alice, make_connection, anthropic_stub, stream
):
    _connect(alice_client, make_connection, alice)

    status, body, tokens = _ask(alice_client, stream=stream)

    assert status == 200, body
    assert [q["sql"] for q in body["queries"]] == [GERMANY_SQL]
    assert body["result"]["rows"] == GERMANY_ROWS
    assert "Ada Lovelace" in body["answer"]
    assert body["llm"]["model"] == "claude-stub"
    assert body["llm"]["prompt_tokens"] > 0
    if stream:
        assert tokens == body["answer"]
    first = anthropic_stub.requests[0]
    assert {t["name"] for t in first["tools"]} >= {"run_query", "describe_tables"}
    assert "input_schema" in first["tools"][0]
    assert first["max_tokens"] == 1024
    sent = anthropic_stub.headers[0]
    assert "sk-ant-test" in (sent.get("x-api-key", "") + sent.get("authorization", ""))
    assert sent["anthropic-version"]
    # The tool's rows went back as a tool_result block.
    assert any(
        block.get("type") == "tool_result"
        for block in anthropic_stub.requests[1]["messages"][-1]["content"]
    )


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_thinking_stays_off_the_answer_and_on_the_turn(
    alice_client, alice, make_connection, anthropic_stub, stream
):
    anthropic_stub.responder = lambda body: StubReply(
        content="Three customers.", reasoning_content="PRIVATE-THOUGHT counting"
    )
    _connect(alice_client, make_connection, alice)

    status, body, tokens = _ask(alice_client, stream=stream)

    assert status == 200, body
    assert body["answer"].startswith("Three customers.")
    assert "PRIVATE-THOUGHT" not in body["answer"] + tokens
    turn = Turn.objects.get()
    assert "PRIVATE-THOUGHT counting" in turn.reasoning
    assert turn.reasoning_tokens > 0


def test_anthropic_says_cut_off_at_max_tokens(
    alice_client, alice, make_connection, anthropic_stub
):
    anthropic_stub.responder = lambda body: StubReply(
        content="Three cust", finish_reason="length"
    )
    _connect(alice_client, make_connection, alice)

    status, _body, _ = _ask(alice_client, stream=False)

    assert status == 200
    assert Turn.objects.get().cut_off is True


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        (StubReply(status=429, error="rate limited"), 503, "llm_busy"),
        (StubReply(status=529, error="Overloaded"), 503, "llm_busy"),
        (
            StubReply(
                status=400, error="prompt is too long: 210000 tokens > 200000 maximum"
            ),
            400,
            "prompt_too_long",
        ),
        (StubReply(status=401, error="invalid x-api-key"), 502, "llm_unavailable"),
        (StubReply(content="", finish_reason="refusal"), 422, "llm_refused"),
    ],
)
def test_anthropic_errors_are_told_in_the_services_words(
    alice_client, alice, make_connection, anthropic_stub, reply, status, code
):
    anthropic_stub.responder = lambda body: reply
    _connect(alice_client, make_connection, alice)

    response = alice_client.post("/ask", {"question": "Germany?"}, format="json")

    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    if status == 503:
        assert response["Retry-After"] == "10"
    assert "sk-ant-test" not in response.content.decode()


def test_anthropic_calls_keep_to_the_budget_and_slot_around_the_sdk(
    anthropic_stub,
):
    model = chat_model_create(llm_settings())

    assert isinstance(model, BoundedChatModel)
    assert model.bounds_its_calls is False


@pytest.mark.parametrize("stream", [False, True])
def test_azure_asks_its_deployment_with_the_api_version_and_key(
    alice_client, alice, make_connection, azure_stub, stream
):
    _connect(alice_client, make_connection, alice)

    status, body, _tokens = _ask(alice_client, stream=stream)

    assert status == 200, body
    assert body["result"]["rows"] == GERMANY_ROWS
    assert "Ada Lovelace" in body["answer"]
    assert azure_stub.paths[0] == (
        "/openai/deployments/sql-gpt/chat/completions?api-version=2024-10-21"
    )
    assert azure_stub.headers[0]["api-key"] == "azure-key-0123"
    assert "authorization" not in azure_stub.headers[0]
    assert isinstance(chat_model_create(llm_settings()), BoundedChatModel)


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        (
            StubReply(
                status=400,
                error="The response was filtered due to the prompt triggering "
                "Azure OpenAI's content management policy.",
                error_code="content_filter",
            ),
            422,
            "llm_refused",
        ),
        (
            StubReply(status=429, error="Requests exceed the rate limit"),
            503,
            "llm_busy",
        ),
        (
            StubReply(
                status=400,
                error="This model's maximum context length is 8192 tokens",
                error_code="context_length_exceeded",
            ),
            400,
            "prompt_too_long",
        ),
        (StubReply(content="", finish_reason="content_filter"), 422, "llm_refused"),
    ],
)
def test_azure_errors_are_told_in_the_services_words(
    alice_client, alice, make_connection, azure_stub, reply, status, code
):
    azure_stub.responder = lambda body: reply
    _connect(alice_client, make_connection, alice)

    response = alice_client.post("/ask", {"question": "Germany?"}, format="json")

    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert "azure-key-0123" not in response.content.decode()


def test_a_provider_missing_its_settings_says_what_to_set(
    alice_client, alice, make_connection, settings
):
    settings.LLM_PROVIDER = "azure"
    settings.AZURE_OPENAI_ENDPOINT = ""
    _connect(alice_client, make_connection, alice)

    response = alice_client.post("/ask", {"question": "Germany?"}, format="json")

    assert response.status_code == 503
    assert "AZURE_OPENAI_ENDPOINT" in response.json()["detail"]
