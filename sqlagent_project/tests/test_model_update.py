"""`model_update`: only the fields that changed are validated into the row and
written, and nothing at all when nothing changed."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from connections.models import DatabaseConnection
from sqlagent_project.services import model_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection(alice, make_connection):
    return make_connection(alice, "sqlite", label="Shop")


def test_it_writes_nothing_when_the_values_are_the_ones_stored(connection):
    before = connection.updated_at

    changed = model_update(
        instance=connection,
        fields=["label", "privacy"],
        data={"label": "Shop", "privacy": "rows"},
    )

    assert changed is False
    connection.refresh_from_db()
    assert connection.updated_at == before


def test_it_writes_only_the_changed_fields_so_a_stale_copy_loses_nothing(connection):
    stale = DatabaseConnection.objects.get(pk=connection.pk)
    before = connection.updated_at

    assert model_update(instance=connection, fields=["label"], data={"label": "A"})
    # The stale copy still holds label "Shop"; it must not write it back.
    assert model_update(
        instance=stale, fields=["label", "privacy"], data={"privacy": "schema"}
    )

    connection.refresh_from_db()
    assert connection.label == "A"
    assert connection.privacy == "schema"
    assert connection.updated_at > before


def test_it_ignores_data_outside_the_given_fields(connection):
    changed = model_update(
        instance=connection,
        fields=["label"],
        data={"label": "Shop", "database_name": "other.sqlite3"},
    )

    assert changed is False
    connection.refresh_from_db()
    assert connection.database_name != "other.sqlite3"


def test_it_validates_the_record_before_saving(connection):
    with pytest.raises(ValidationError) as excinfo:
        model_update(instance=connection, fields=["label"], data={"label": "x" * 101})

    assert "label" in excinfo.value.message_dict
    connection.refresh_from_db()
    assert connection.label == "Shop"


def test_it_refuses_a_name_that_is_not_a_field(connection):
    with pytest.raises(ValueError, match="colour is not a field"):
        model_update(instance=connection, fields=["colour"], data={"colour": "red"})
