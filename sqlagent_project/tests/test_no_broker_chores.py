"""Without a broker, the web process does the queue's periodic chores after a
response: each while its setting is on, none when a broker is configured."""

from __future__ import annotations

from django.http import HttpResponse
from django.test import RequestFactory

from sqlagent_project.middleware import NoBrokerChoresMiddleware
from sqlagent_project.queue import Every

calls: list[str] = []
_often = Every(3600)


def chore_every_time() -> None:
    calls.append("every time")


def chore_now_and_then() -> None:
    if _often.due():
        calls.append("now and then")


def _served(settings, *, requests: int) -> list[str]:
    settings.NO_BROKER_CHORES = [
        ("CHORE_A_ON", f"{__name__}.chore_every_time"),
        ("CHORE_B_ON", f"{__name__}.chore_now_and_then"),
    ]
    calls.clear()
    _often.forget()
    middleware = NoBrokerChoresMiddleware(lambda request: HttpResponse("ok"))
    for _ in range(requests):
        assert middleware(RequestFactory().get("/")).content == b"ok"
    return list(calls)


def test_each_chore_runs_after_a_response_while_its_setting_is_on(settings):
    settings.CELERY_BROKER_URL = ""
    settings.CHORE_A_ON, settings.CHORE_B_ON = True, True

    assert _served(settings, requests=3) == [
        "every time",
        "now and then",
        "every time",
        "every time",
    ]


def test_a_chore_whose_setting_is_off_never_runs(settings):
    settings.CELERY_BROKER_URL = ""
    settings.CHORE_A_ON, settings.CHORE_B_ON = False, True

    assert _served(settings, requests=2) == ["now and then"]


def test_with_a_broker_the_web_process_does_no_chore(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"
    settings.CHORE_A_ON, settings.CHORE_B_ON = True, True

    assert _served(settings, requests=2) == []


def test_every_is_due_once_per_interval_and_again_when_forgotten():
    every = Every(3600)

    assert [every.due(), every.due()] == [True, False]
    every.forget()
    assert every.due() is True


def test_the_configured_chores_import_and_their_switches_are_settings():
    from django.conf import settings as configured
    from django.utils.module_loading import import_string

    for switch, path in configured.NO_BROKER_CHORES:
        assert isinstance(getattr(configured, switch), bool)
        assert callable(import_string(path))
