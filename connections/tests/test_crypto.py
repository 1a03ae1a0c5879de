"""Passwords at rest: Fernet tokens in the column, re-encrypted on key rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as app_db

from connections import crypto
from connections.models import DatabaseConnection
from testsupport.fixtures import ENGINES, READER

pytestmark = pytest.mark.django_db


def _raw_password_column(connection_id: int) -> str:
    with app_db.cursor() as cursor:
        cursor.execute(
            "SELECT password_encrypted FROM connections_databaseconnection "
            "WHERE id = %s",
            [connection_id],
        )
        return cursor.fetchone()[0]


def test_the_raw_column_holds_a_fernet_token_not_the_password(
    alice, make_connection, settings
):
    connection = make_connection(alice, "postgresql")

    raw = _raw_password_column(connection.id)

    assert READER["password"] not in raw
    key = settings.FIELD_ENCRYPTION_KEY[0]
    assert Fernet(key.encode()).decrypt(raw.encode()).decode() == READER["password"]


def test_the_same_password_encrypts_differently_each_time(alice, make_connection):
    first = make_connection(alice, "postgresql")
    second = make_connection(alice, "mysql")

    assert _raw_password_column(first.id) != _raw_password_column(second.id)


def test_the_api_never_writes_the_plaintext_into_the_column(alice_client):
    response = alice_client.post(
        "/databases/add_db_connection",
        {
            "db_type": "mysql",
            "host": "127.0.0.1",
            "port": 3306,
            "database_name": "shop",
            "username": READER["username"],
            "db_password": READER["password"],
        },
        format="json",
    )

    raw = _raw_password_column(response.json()["db_connection"]["id"])
    assert raw
    assert READER["password"] not in raw


def test_an_empty_password_is_stored_empty(alice, make_connection):
    connection = make_connection(alice, "postgresql", reader=False)

    assert _raw_password_column(connection.id) == ""
    assert connection.get_password() == ""


def test_a_token_from_an_unknown_key_is_a_decryption_error(settings):
    token = crypto.encrypt("secret")
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]

    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)


@pytest.mark.parametrize("db_type", [e for e in ENGINES if e != "sqlite"])
def test_passwords_still_decrypt_and_connect_after_a_key_rotation(
    alice_client, alice, make_connection, settings, db_type
):
    connection = make_connection(alice, db_type)
    old_key = settings.FIELD_ENCRYPTION_KEY[0]
    new_key = Fernet.generate_key().decode()
    before = _raw_password_column(connection.id)

    settings.FIELD_ENCRYPTION_KEY = [new_key, old_key]
    call_command("rotate_encryption_keys")
    settings.FIELD_ENCRYPTION_KEY = [new_key]

    after = _raw_password_column(connection.id)
    assert after != before
    assert (
        Fernet(new_key.encode()).decrypt(after.encode()).decode()
        == (READER["password"])
    )
    connection.refresh_from_db()
    assert connection.get_password() == READER["password"]
    response = alice_client.post(f"/databases/connect_db/{connection.id}")
    assert response.status_code == 200


def test_without_rotation_dropping_the_old_key_gives_a_clear_502(
    alice_client, alice, make_connection, settings
):
    connection = make_connection(alice, "mysql")
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]

    response = alice_client.post(f"/databases/connect_db/{connection.id}")

    assert response.status_code == 502
    assert "decrypt" in response.json()["detail"]


def test_rotation_reports_how_many_passwords_it_re_encrypted(
    alice, make_connection, settings, capsys
):
    make_connection(alice, "postgresql")
    make_connection(alice, "mysql")
    make_connection(alice, "sqlite")
    settings.FIELD_ENCRYPTION_KEY = [
        Fernet.generate_key().decode(),
        *settings.FIELD_ENCRYPTION_KEY,
    ]

    call_command("rotate_encryption_keys")

    assert "Re-encrypted 2 connection password(s)." in capsys.readouterr().out
    assert DatabaseConnection.objects.count() == 3
