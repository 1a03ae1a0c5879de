"""A database error's text is scrubbed of the connection's password before it is cut."""

from __future__ import annotations

from sqlalchemy import create_engine

from agent.sql_guard import execution


def test_a_password_straddling_the_message_limit_is_scrubbed_whole():
    password = "Straddling-Secret-4242"
    engine = create_engine(f"postgresql+psycopg://reader:{password}@127.0.0.1/x")
    # The password starts a few characters before the cut, so cutting first
    # would leave its first half in the message, where no scrub finds it.
    prefix = "x" * (execution._MESSAGE_LIMIT - 10)
    message = execution._db_message(Exception(prefix + password + " tail"), engine)

    assert password[:8] not in message
    assert len(message) <= execution._MESSAGE_LIMIT


def test_a_short_message_keeps_its_text_with_the_password_replaced():
    engine = create_engine("postgresql+psycopg://reader:pw-123456@127.0.0.1/x")
    message = execution._db_message(Exception("login with pw-123456 failed"), engine)

    assert message == "login with *** failed"
