"""Every request body is bounded: 413 past REQUEST_MAX_BYTES, 400 past JSON_MAX_DEPTH.

The routes come from the URL resolver, so a route added later is covered too.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory
from rest_framework.exceptions import ParseError

from sqlagent_project.parsers import (
    BoundedJSONParser,
    RequestTooLarge,
    json_depth_exceeds,
)
from testsupport.fixtures import PASSWORD
from testsupport.routes import project_routes

pytestmark = pytest.mark.django_db

ROUTES = project_routes()
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _send(client: Any, method: str, path: str, body: bytes, **extra: Any) -> Any:
    return client.generic(method, path, body, content_type="application/json", **extra)


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_json_nested_a_thousand_levels_deep_is_a_400_on_every_route(
    alice_client, route
):
    for method in BODY_METHODS:
        response = _send(alice_client, method, str(route), _nested(1000))

        assert response.status_code == 400, (method, response.status_code)
        assert response.json() == {
            "detail": "JSON parse error - nested deeper than 32 levels.",
            "code": "json_too_deep",
        }


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_a_body_over_the_limit_is_a_413_on_every_route(alice_client, settings, route):
    # A small limit keeps 500 requests quick; the default is tested below.
    settings.REQUEST_MAX_BYTES = 4096
    body = b'{"question": "' + b"x" * settings.REQUEST_MAX_BYTES + b'"}'
    for method in BODY_METHODS:
        response = _send(alice_client, method, str(route), body)

        assert response.status_code == 413, (method, response.status_code)
        assert response.json()["code"] == "request_too_large"
        assert str(settings.REQUEST_MAX_BYTES) in response.json()["detail"]


def test_a_ten_megabyte_body_is_refused_by_its_length_alone(anon_client):
    response = _send(anon_client, "POST", "/auth/login", b"{" + b" " * 10_000_000)

    assert response.status_code == 413
    assert "limit of 1048576 bytes" in response.json()["detail"]
    assert response["Connection"] == "close"


def test_a_browser_posting_a_form_too_large_gets_a_plain_page(alice_page, settings):
    response = alice_page.post(
        "/connections/add/",
        {"name": "x" * (settings.REQUEST_MAX_BYTES + 1)},
        headers={"Accept": "text/html"},
    )

    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"<h1>Request too large</h1>" in response.content


def test_a_browser_posting_json_too_deep_gets_a_plain_page(alice_page):
    html = {"Accept": "text/html"}
    response = _send(alice_page, "POST", "/chat/run-sql/", _nested(40), headers=html)

    assert response.status_code == 400
    assert b"nested deeper than 32 levels" in response.content


def test_json_at_the_depth_limit_reaches_the_view(alice_client, settings):
    settings.JSON_MAX_DEPTH = 3
    within = json.dumps({"question": [[1]]}).encode()
    beyond = json.dumps({"question": [[[1]]]}).encode()

    accepted = _send(alice_client, "POST", "/ask", within)
    refused = _send(alice_client, "POST", "/ask", beyond)

    # The view's own validation answers: the question is not a string.
    assert accepted.status_code == 400
    assert "question" in accepted.json()
    assert refused.json()["code"] == "json_too_deep"


def test_the_limits_follow_the_settings(anon_client, settings):
    settings.REQUEST_MAX_BYTES = 100
    body = json.dumps({"email": "a" * 100, "password": "x"}).encode()

    response = _send(anon_client, "POST", "/auth/login", body)

    assert response.status_code == 413
    assert "limit of 100 bytes" in response.json()["detail"]


def _wsgi_call(environ: dict[str, Any]) -> tuple[str, bytes]:
    """Call the real WSGI handler, as gunicorn does, with the raw environ."""
    statuses: list[str] = []

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
        statuses.append(status)

    # The handler closes the database connection around each request; inside
    # the test's transaction that would close it under the test (Django's test
    # client unhooks the same receivers).
    signals = (request_started, request_finished)
    for signal in signals:
        signal.disconnect(close_old_connections)
    try:
        body = b"".join(WSGIHandler()(environ, start_response))
    finally:
        for signal in signals:
            signal.connect(close_old_connections)
    return statuses[0], body


def _chunked_environ(path: str, body: bytes) -> dict[str, Any]:
    environ = RequestFactory().post(path, content_type="application/json").environ
    del environ["CONTENT_LENGTH"]
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    environ["wsgi.input"] = io.BytesIO(body)
    return environ


def test_a_chunked_body_without_a_length_is_bounded_too(settings):
    body = b'{"email": "' + b"a" * settings.REQUEST_MAX_BYTES + b'"}'

    status, content = _wsgi_call(_chunked_environ("/auth/login", body))

    assert status.startswith("413")
    assert json.loads(content)["code"] == "request_too_large"


def test_a_small_chunked_body_is_read_and_parsed(alice):
    body = json.dumps({"email": alice.email, "password": PASSWORD}).encode()

    status, content = _wsgi_call(_chunked_environ("/auth/login", body))

    # The credentials were read from the chunked body: alice is logged in.
    assert status.startswith("200")
    assert set(json.loads(content)) >= {"access", "refresh"}


# -- the parser alone (the middleware bypassed) --------------------------------


def test_the_parser_refuses_json_too_deep_without_recursing(settings):
    with pytest.raises(ParseError, match="nested deeper than 32 levels"):
        BoundedJSONParser().parse(io.BytesIO(_nested(100_000)))


def test_the_parser_refuses_a_stream_longer_than_the_limit(settings):
    settings.REQUEST_MAX_BYTES = 10

    with pytest.raises(RequestTooLarge):
        BoundedJSONParser().parse(io.BytesIO(b'{"a": "0123456789"}'))


def test_the_parser_returns_json_within_the_limits():
    data = BoundedJSONParser().parse(io.BytesIO(b'{"a": [1, {"b": "[[[["}]}'))

    assert data == {"a": [1, {"b": "[[[["}]}


@pytest.mark.parametrize(
    ("raw", "deep"),
    [
        (_nested(3), False),
        (_nested(4), True),
        (b'{"a": {"b": {"c": 1}}}', False),
        (b'{"a": {"b": {"c": {}}}}', True),
        # Brackets inside strings, escaped quotes included, are not structure.
        (b'["[[[[", "\\"[[[[\\"", {"k": "{{{{"}]', False),
        # An unterminated string still cannot hide depth from the parser.
        (b'[[[["', True),
    ],
)
def test_depth_is_counted_outside_strings(raw, deep):
    assert json_depth_exceeds(raw, 3) is deep


def test_the_api_schema_documents_the_413_of_every_operation_with_a_body(client):
    schema = client.get("/api/schema/?format=json").json()
    operations = [
        (f"{method.upper()} {path}", operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]

    assert len(operations) >= 7
    undocumented = [
        label for label, operation in operations if "413" not in operation["responses"]
    ]
    assert undocumented == []
