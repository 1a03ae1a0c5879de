"""The connection's editable fields are declared once (connections/fields.py) and
every way in and out (services, validation, API, admin, page form) follows it."""

from __future__ import annotations

import dataclasses

import pytest

from agent.engines import engine_cache
from connections import crypto
from connections.admin import ConnectionAdminForm
from connections.fields import EDITABLE_FIELDS, VALIDATED_FIELDS
from connections.forms import ConnectionForm
from connections.models import DatabaseConnection
from connections.serializers import (
    ConnectionInputSerializer,
    ConnectionOutputSerializer,
)
from connections.services import connection_update
from connections.validation import ValidConnection
from testsupport.fixtures import SQLITE_FILE

pytestmark = pytest.mark.django_db


def test_every_editable_column_of_the_record_is_declared():
    columns = {
        field.name
        for field in DatabaseConnection._meta.concrete_fields
        # Who holds the record (its owner, or its team) is not one of its settings.
        if field.editable
        and not field.primary_key
        and field.name not in {"owner", "team"}
    }

    assert set(EDITABLE_FIELDS) == columns


def test_validation_returns_exactly_the_validated_fields():
    assert tuple(f.name for f in dataclasses.fields(ValidConnection)) == (
        VALIDATED_FIELDS
    )


def test_the_api_admin_and_page_form_take_and_show_every_field():
    assert set(EDITABLE_FIELDS) <= set(ConnectionInputSerializer().fields)
    assert set(EDITABLE_FIELDS) <= set(ConnectionOutputSerializer().fields)
    assert set(EDITABLE_FIELDS) <= set(ConnectionAdminForm.base_fields)
    assert set(EDITABLE_FIELDS) <= set(ConnectionForm().fields)


def test_an_update_that_changes_nothing_keeps_the_row_and_the_sessions_engine(
    alice, connected_session
):
    session = connected_session(alice, "sqlite")
    connection = session.db_connection
    engine_cache.get(session)
    before = connection.updated_at

    connection_update(
        connection=connection,
        label=connection.label,
        database_name=connection.database_name,
        privacy=connection.privacy,
    )

    connection.refresh_from_db()
    assert connection.updated_at == before
    assert session.id in engine_cache


def test_an_update_from_a_stale_copy_keeps_the_other_fields_change(
    alice, make_connection
):
    connection = make_connection(alice, "sqlite", label="Shop")
    stale = DatabaseConnection.objects.get(pk=connection.pk)

    connection_update(connection=connection, label="Renamed")
    connection_update(connection=stale, privacy="schema")

    connection.refresh_from_db()
    assert connection.label == "Renamed"
    assert connection.privacy == "schema"
    assert connection.privacy_changed_at is not None


def test_the_password_is_kept_replaced_or_cleared_and_only_stored_encrypted(
    alice, make_connection
):
    connection = make_connection(alice, "postgresql")
    ciphertext = connection.password_encrypted

    connection_update(connection=connection, label="kept")
    kept = connection.password_encrypted
    connection_update(connection=connection, password="New-Secret-1")
    replaced = DatabaseConnection.objects.get(pk=connection.pk).password_encrypted
    connection_update(connection=connection, password="")
    cleared = DatabaseConnection.objects.get(pk=connection.pk).password_encrypted

    assert kept == ciphertext
    assert "New-Secret-1" not in replaced
    assert crypto.decrypt(replaced) == "New-Secret-1"
    assert cleared == ""


def test_moving_a_connection_to_a_file_drops_its_server_fields_and_password(
    alice, make_connection
):
    connection = make_connection(alice, "postgresql")

    connection_update(
        connection=connection, db_type="sqlite", database_name=SQLITE_FILE
    )

    connection.refresh_from_db()
    assert (connection.host, connection.port, connection.username) == ("", 0, "")
    assert connection.password_encrypted == ""
