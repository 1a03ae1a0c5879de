from __future__ import annotations

from sqlagent_project.errors import ApplicationError


class NoDatabaseConnected(ApplicationError):
    """The session has no database to ask."""

    status_code = 409
    code = "no_database_connected"
    default_message = (
        "No database connected for this session. Please connect a database first."
    )


class QuestionInvalid(ApplicationError):
    """The question is empty or too long."""

    status_code = 400
    code = "invalid_question"
    default_message = "The question is empty or too long."


class LLMNotConfigured(ApplicationError):
    """Neither an API key nor an OpenAI-compatible base URL is set."""

    status_code = 503
    code = "llm_not_configured"
    default_message = (
        "No LLM is configured. Set OPENAI_API_KEY (for OpenAI) or OPENAI_BASE_URL "
        "(for an OpenAI-compatible server such as vLLM, Ollama or LM Studio), "
        "and optionally OPENAI_MODEL, then restart the service."
    )


class LLMUnavailable(ApplicationError):
    """The LLM could not be reached or kept failing after its retries."""

    status_code = 502
    code = "llm_unavailable"
    default_message = "The language model could not be reached."


class LLMTimeout(ApplicationError):
    """The LLM did not answer within LLM_TIMEOUT_S, retries included."""

    status_code = 504
    code = "llm_timeout"
    default_message = "The language model did not answer in time."


class AgentStepLimit(ApplicationError):
    """The agent used all its steps without reaching an answer."""

    status_code = 422
    code = "agent_step_limit"
    default_message = "The agent could not reach an answer within its step limit."


class AgentInterrupted(ApplicationError):
    """The worker running the question stopped before it finished."""

    status_code = 500
    code = "interrupted"
    default_message = "The worker answering this question stopped before it finished."


class AskFailed(ApplicationError):
    """Something unexpected broke while answering: a bug, not the client's fault."""

    status_code = 500
    code = "ask_failed"
    default_message = (
        "The question could not be answered because of an internal error. "
        "It has been logged; please try again later."
    )


class SqlInvalid(ApplicationError):
    """The SQL to run is empty or too long."""

    status_code = 400
    code = "invalid_sql"
    default_message = "The SQL is empty or too long."


class SqlRefused(ApplicationError):
    """The statement check refused the SQL: it is not a single read-only query."""

    status_code = 400
    code = "sql_refused"
    default_message = "Only a single read-only SELECT is allowed."


class SqlFailed(ApplicationError):
    """The database refused or failed the SQL (an error in the query itself)."""

    status_code = 400
    code = "query_failed"
    default_message = "The database could not run the query."


class SqlTimedOut(ApplicationError):
    """The SQL ran past QUERY_TIMEOUT_S and was cancelled."""

    status_code = 504
    code = "query_timeout"
    default_message = "The query ran out of time and was cancelled."


class AskCancelled(ApplicationError):
    """The ask was stopped: its owner pressed Stop, or its client went away."""

    status_code = 409
    code = "cancelled"
    default_message = "The question was cancelled before it was answered."


class ThreadTitleInvalid(ApplicationError):
    """A conversation title is empty or too long."""

    status_code = 400
    code = "invalid_title"
    default_message = "A title is required and has at most 200 characters."


class PromptTooLong(ApplicationError):
    """The model refused the request as longer than its context window."""

    status_code = 400
    code = "prompt_too_long"
    default_message = (
        "The question, conversation and schema are longer than the model's context "
        "window; start a new conversation or ask about fewer tables."
    )


class LLMBusy(ApplicationError):
    """The model's server is rate limiting or overloaded, retries included."""

    status_code = 503
    code = "llm_busy"
    retry_after = 10
    default_message = (
        "The language model is busy (rate limited or overloaded); try again shortly."
    )


class LLMRefused(ApplicationError):
    """The model or its provider's content filter refused to answer."""

    status_code = 422
    code = "llm_refused"
    default_message = "The language model declined to answer this question."


class ChartInvalid(ApplicationError):
    """The chart picked does not fit the turn's rows."""

    status_code = 400
    code = "chart_invalid"
