"""The chat model sends LangChain's payload as is: the same request body the
openai SDK's own `create` sends, without its per-call schema walk."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from agent.llm.chat_model import LLMSettings, chat_model_create
from agent.llm.tools import langchain_tools
from testsupport.llm_stub import StubLLMServer, StubReply, scripted_responder

MESSAGES = [
    SystemMessage("You are SQLAgent."),
    HumanMessage("How many orders are there? Ünïcode too."),
]


def _config(base_url: str) -> LLMSettings:
    return LLMSettings(
        model="gpt-4.1-mini",
        api_key="sk-test",
        base_url=base_url,
        timeout_s=10,
        max_retries=0,
        temperature=0,
        max_tokens=256,
    )


@pytest.mark.parametrize("streaming", [False, True])
def test_the_request_body_is_what_the_sdk_itself_would_send(streaming):
    reply = StubReply(tool_calls=[("run_query", {"sql": "SELECT 1"})])
    with StubLLMServer(responder=scripted_responder([reply, reply])) as stub:
        config = _config(stub.base_url)
        ours = chat_model_create(config).bind_tools(langchain_tools())
        sdk = ChatOpenAI(
            model=config.model,
            api_key=config.api_key,
            base_url=config.base_url,
            timeout=config.timeout_s,
            max_retries=0,
            temperature=0,
            max_tokens=256,
            use_responses_api=False,
            stream_usage=True,
        ).bind_tools(langchain_tools())

        for model in (ours, sdk):
            if streaming:
                message = None
                for chunk in model.stream(MESSAGES):
                    message = chunk if message is None else message + chunk
            else:
                message = model.invoke(MESSAGES)
            assert message.tool_calls[0]["args"] == {"sql": "SELECT 1"}

        assert len(stub.requests) == 2
        assert stub.requests[0] == stub.requests[1]
        body = stub.requests[0]
        assert body.get("max_tokens", body.get("max_completion_tokens")) == 256
        assert bool(stub.requests[0].get("stream")) is streaming
