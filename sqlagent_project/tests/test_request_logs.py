"""Browser requests log their user on every line; a failed connect logs its reason."""

from __future__ import annotations

import logging

import pytest

from sqlagent_project.logformat import ContextFilter
from testsupport.fixtures import connection_fields

pytestmark = pytest.mark.django_db

DB_PASSWORD = "Reader-Secret-7781"


@pytest.fixture
def records(caplog):
    """Capture records with the request context on them, as the real handler has."""
    caplog.handler.addFilter(ContextFilter())
    caplog.set_level(logging.INFO)
    return caplog


def test_a_line_logged_inside_a_browser_request_names_its_user(
    records, alice, alice_page, shop
):
    response = alice_page.post(
        "/connections/add/", {"label": "shop", **connection_fields("sqlite")}
    )

    assert response.status_code == 302
    created = [
        r for r in records.records if r.getMessage().startswith("connection created")
    ]
    assert len(created) == 1
    assert created[0].user_id == alice.pk
    request_line = [r for r in records.records if r.name == "sqlagent.request"][-1]
    assert request_line.user_id == alice.pk


def test_a_failed_connect_is_logged_with_its_reason_and_no_secret(
    records, alice, alice_page, make_connection
):
    # Nothing listens on port 1: the connect fails for a reason a person can act on.
    connection = make_connection(
        alice, "postgresql", host="127.0.0.1", port=1, password=DB_PASSWORD
    )

    alice_page.post(f"/connections/{connection.pk}/connect/")

    failed = [r for r in records.records if r.getMessage().startswith("connect failed")]
    assert len(failed) == 1
    assert failed[0].levelno == logging.WARNING
    assert failed[0].user_id == alice.pk
    assert "reason=" in failed[0].getMessage()
    assert "refused" in failed[0].getMessage().lower()
    assert DB_PASSWORD not in failed[0].getMessage()
