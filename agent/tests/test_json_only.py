"""The API answers JSON only: a browser's Accept header never gets HTML."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _assert_json(response) -> dict:
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert "<html" not in response.content.decode().lower()
    return body


@pytest.mark.parametrize(
    "path", ["/auth/me", "/databases", "/databases/session-status", "/threads"]
)
def test_a_browser_accept_header_on_an_api_route_still_gets_json(alice_client, path):
    response = alice_client.get(path, HTTP_ACCEPT=BROWSER_ACCEPT)
    assert response.status_code == 200
    _assert_json(response)


@pytest.mark.parametrize("path", ["/auth/me", "/databases", "/threads"])
def test_html_only_accept_gets_a_json_406_never_the_browsable_api(alice_client, path):
    response = alice_client.get(path, HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert _assert_json(response)["code"] == "not_acceptable"


def test_anonymous_browser_gets_a_json_401(anon_client):
    response = anon_client.get("/databases", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert response.status_code == 401
    assert _assert_json(response)["code"] == "not_authenticated"


def test_the_browsable_api_format_parameter_is_not_served(alice_client):
    response = alice_client.get("/databases?format=api")
    assert response.status_code == 404
    assert _assert_json(response)["code"] == "not_found"


def test_a_form_encoded_body_is_refused_as_json_415(alice_client):
    response = alice_client.post(
        "/ask", "question=hi", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert _assert_json(response)["code"] == "unsupported_media_type"


def test_an_unknown_api_url_answers_a_json_404(alice_client):
    response = alice_client.get("/databases/-1")
    assert response.status_code == 404
    assert _assert_json(response) == {"detail": "Not found.", "code": "not_found"}


def test_an_unknown_page_in_a_browser_is_still_an_html_404(client):
    response = client.get("/no-such-page/", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
