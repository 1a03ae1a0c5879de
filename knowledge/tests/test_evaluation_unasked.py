"""A question that could not be asked is never scored as wrong: it is retried,
or the run says it is incomplete and scores only the questions it answered."""

from __future__ import annotations

from typing import Any

import pytest

from knowledge import evaluation
from knowledge.models import Outcome
from testsupport.fake_llm import ScriptedChatModel, scripted
from testsupport.golden import answers_right, answers_right_noting, counting_question
from testsupport.llm_stub import StubLLMServer, StubReply, last_user_question

pytestmark = pytest.mark.django_db


@pytest.fixture
def twelve_questions(counting_golden_set):
    return counting_golden_set("twelve", 12)


@pytest.fixture
def llm_at(settings):
    def configure(server: StubLLMServer) -> None:
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_API_KEY = "stub"
        settings.LLM_MAX_RETRIES = 0
        settings.LLM_TIMEOUT_S = 5

    return configure


def test_a_model_that_fails_then_answers_is_retried_and_scored(
    twelve_questions, llm_at
):
    with StubLLMServer(responder=answers_right) as server:
        llm_at(server)
        run = evaluation.run_start(
            connection=twelve_questions, set_name="twelve", limit=2
        )
        server.fail_next(2, status=503, message="overloaded")
        run = evaluation.run_execute(run=run)

    assert run.status == "done"
    assert (run.correct, run.unanswered, run.accuracy) == (2, 0, 1.0)
    assert [r.outcome for r in run.results.all()] == ["correct", "correct"]


def test_an_unreachable_model_leaves_questions_unanswered_not_wrong(
    twelve_questions, llm_at, settings
):
    settings.EVALUATION_QUESTION_RETRIES = 1
    asked: list[str] = []

    def right_then_down(body: dict[str, Any]) -> StubReply:
        question = last_user_question(body)
        if body["messages"][-1].get("role") != "tool":
            asked.append(question)
        if question.startswith(("Question 1:", "Question 2:", "Question 3:")):
            return answers_right(body)
        return StubReply(status=502, error="bad gateway")

    with StubLLMServer(responder=right_then_down) as server:
        llm_at(server)
        run = evaluation.run_start(connection=twelve_questions, set_name="twelve")
        run = evaluation.run_execute(run=run)

    assert run.status == "incomplete"
    assert run.total == 12
    assert (run.correct, run.answered, run.unanswered) == (3, 3, 9)
    # Accuracy over the answered questions, never 3/12.
    assert run.accuracy == 1.0
    outcomes = [r.outcome for r in run.results.all()]
    assert outcomes == ["correct"] * 3 + ["unanswered"] * 9
    assert Outcome.WRONG_ROWS not in outcomes
    # Each unanswered question was tried once more before giving up.
    assert asked.count("Question 4: how many customers?") == 2


class _ShutDownAfter(ScriptedChatModel):
    """Raises what the SIGHUP-reloaded gunicorn worker raised after `ok` calls."""

    ok: int = 0

    def _generate(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        if self.ok <= 0:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")
        self.ok -= 1
        return super()._generate(messages, *args, **kwargs)


def test_interpreter_shutdown_mid_run_is_not_scored_as_wrong(twelve_questions):
    from testsupport.fake_llm import tool_call

    replies = []
    for _ in range(3):
        replies += [tool_call("SELECT COUNT(*) FROM customers"), "There are 6."]
    base = scripted(*replies)
    model = _ShutDownAfter(
        messages=base.messages, disable_streaming=True, received=[], ok=6
    )
    run = evaluation.run_start(connection=twelve_questions, set_name="twelve")

    run = evaluation.run_execute(run=run, chat_model=model)

    assert run.status == "incomplete"
    assert (run.correct, run.unanswered, run.accuracy) == (3, 9, 1.0)
    fourth = run.results.get(position=4)
    assert fourth.outcome == "unanswered"
    assert "shutting down" in fourth.error


def test_a_second_delivery_resumes_and_counts_each_question_once(
    twelve_questions, llm_at
):
    asked: list[str] = []
    with StubLLMServer(responder=answers_right_noting(asked)) as server:
        llm_at(server)
        run = evaluation.run_start(
            connection=twelve_questions, set_name="twelve", limit=4
        )
        # A worker that stored two results and then was killed.
        first = evaluation.run_start(
            connection=twelve_questions, set_name="twelve", limit=2
        )
        evaluation.run_execute(run=first)
        first.results.update(run=run)
        asked.clear()

        from knowledge.tasks import evaluation_run

        evaluation_run.apply(kwargs={"run_id": run.pk})
        again = evaluation_run.apply(kwargs={"run_id": run.pk}).get()

    run.refresh_from_db()
    assert run.status == "done"
    assert (run.done, run.correct) == (4, 4)
    assert [r.position for r in run.results.all()] == [1, 2, 3, 4]
    # Only the two questions not yet scored were asked; the second delivery of
    # a finished run asks nothing.
    assert asked == [counting_question(3), counting_question(4)]
    assert again == {"run_id": run.pk, "skipped": True}


def test_the_runs_page_says_the_run_is_incomplete(
    twelve_questions, llm_at, alice_page, settings
):
    settings.EVALUATION_QUESTION_RETRIES = 0

    def down_after_two(body: dict[str, Any]) -> StubReply:
        if last_user_question(body).startswith(("Question 1:", "Question 2:")):
            return answers_right(body)
        return StubReply(status=503, error="overloaded")

    with StubLLMServer(responder=down_after_two) as server:
        llm_at(server)
        run = evaluation.run_start(
            connection=twelve_questions, set_name="twelve", limit=4
        )
        evaluation.run_execute(run=run)

    page = alice_page.get(
        f"/knowledge/{twelve_questions.id}/runs/{run.pk}/"
    ).content.decode()
    assert "Incomplete: 2 question(s) could not be asked" in page
    assert "2/2 answered = 100%" in page
    listing = alice_page.get(f"/knowledge/{twelve_questions.id}/runs/")
    assert "2 unanswered" in listing.content.decode()
