"""Without a broker, an evaluation run its web process left unfinished (a
reload, a killed worker, a restart) is claimed again and resumed by a web
process, each question counted once; a run a live process holds is left to it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from agent.orphans import HOSTNAME
from knowledge import evaluation, interrupted
from knowledge.models import EvaluationRun
from testsupport.golden import answers_right_noting, counting_question
from testsupport.llm_stub import StubLLMServer


def _forget_claims() -> None:
    with interrupted._lock:
        interrupted._claimed.clear()
        interrupted._executing.clear()
    interrupted._sweeps.forget()


@pytest.fixture(autouse=True)
def _claims_forgotten():
    _forget_claims()  # an earlier test's request may have swept just now
    yield
    _forget_claims()


@pytest.fixture
def four_questions(counting_golden_set):
    return counting_golden_set("four", 4)


@pytest.fixture
def llm(settings):
    asked: list[str] = []
    with StubLLMServer(responder=answers_right_noting(asked)) as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = server.base_url, "stub"
        settings.LLM_MAX_RETRIES = 0
        yield asked


def _dead_pid() -> int:
    """Return the pid of a process of this host that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _interrupted_after_two(connection: Any, asked: list[str], **fields: Any) -> int:
    """A run of four questions whose process stopped after the second."""
    run = evaluation.run_start(connection=connection, set_name="four")
    evaluation.run_execute(run=run)
    run.results.filter(position__gt=2).delete()
    EvaluationRun.objects.filter(pk=run.pk).update(
        status="running", finished_at=None, heartbeat_at=timezone.now(), **fields
    )
    asked.clear()
    return run.pk


def _finished(run_id: int) -> EvaluationRun:
    deadline = time.monotonic() + 60
    while (run := EvaluationRun.objects.get(pk=run_id)).status == "running":
        assert time.monotonic() < deadline, "the run was not resumed"
        time.sleep(0.1)
    return run


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_worker_exited_is_released_and_resumed_by_the_next_request(
    four_questions, llm, alice_client, settings
):
    settings.EVALUATION_RESUME_IN_PROCESS = True
    pid = _dead_pid()
    run_id = _interrupted_after_two(four_questions, llm, worker=f"{HOSTNAME}:{pid}")
    # The gunicorn master saw the worker exit: it lets the run go.
    assert interrupted.runs_release_of_worker(pid=pid) == 1
    assert EvaluationRun.objects.get(pk=run_id).worker == ""

    alice_client.get("/databases")  # any request of any web process

    run = _finished(run_id)
    assert run.status == "done"
    assert (run.done, run.correct, run.unanswered) == (4, 4, 0)
    assert [r.position for r in run.results.all()] == [1, 2, 3, 4]
    # Only the two questions not scored before were asked again.
    assert llm == [counting_question(3), counting_question(4)]


@pytest.mark.django_db(transaction=True)
def test_a_run_left_by_a_process_gone_from_this_host_is_resumed(four_questions, llm):
    # No master told anyone (the whole service was killed): the process is gone.
    run_id = _interrupted_after_two(
        four_questions, llm, worker=f"{HOSTNAME}:{_dead_pid()}"
    )

    assert interrupted.runs_resume_interrupted() == [run_id]

    run = _finished(run_id)
    assert (run.status, run.done, run.correct) == ("done", 4, 4)
    assert llm == [counting_question(3), counting_question(4)]
    assert interrupted.runs_resume_interrupted() == []


@pytest.mark.django_db
def test_a_run_a_live_process_holds_is_left_to_it_until_it_falls_silent(
    four_questions, llm
):
    # Just created, not yet queued: left to the process creating it.
    fresh = evaluation.run_start(connection=four_questions, set_name="four")
    assert not interrupted.run_claim(run_id=fresh.pk)
    fresh.delete()

    alive_here = f"{HOSTNAME}:{os.getppid()}"
    run_id = _interrupted_after_two(four_questions, llm, worker=alive_here)
    assert not interrupted.run_claim(run_id=run_id)
    assert interrupted.runs_resume_interrupted() == []

    # Another host's process, silent for longer than a question can take.
    EvaluationRun.objects.filter(pk=run_id).update(
        worker="other-host:7",
        heartbeat_at=timezone.now() - timedelta(seconds=5),
    )
    assert not interrupted.run_claim(run_id=run_id)
    EvaluationRun.objects.filter(pk=run_id).update(
        heartbeat_at=timezone.now() - interrupted.silent_limit() - timedelta(seconds=1)
    )
    assert interrupted.run_claim(run_id=run_id)
    # Claimed once: a second claim here, or a second run here, is refused.
    assert not interrupted.run_claim(run_id=run_id)
    assert interrupted.run_enter(run_id=run_id)
    assert not interrupted.run_enter(run_id=run_id)
    # The process it was taken from learns so at its next heartbeat.
    EvaluationRun.objects.filter(pk=run_id).update(worker="other-host:7")
    assert not interrupted.run_heartbeat(run_id=run_id)
    interrupted.run_leave(run_id=run_id)

    # Claimed when queued here, taken over before it started: it does not start.
    EvaluationRun.objects.filter(pk=run_id).update(worker="")
    assert interrupted.run_claim(run_id=run_id)
    EvaluationRun.objects.filter(pk=run_id).update(worker="other-host:8")
    assert not interrupted.run_enter(run_id=run_id)
