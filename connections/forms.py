"""The connection form: the API's own validation, shown next to each field."""

from __future__ import annotations

from typing import Any

from django import forms

from connections.models import DatabaseConnection, DbType
from connections.selectors import connection_list_for_user
from connections.serializers import ConnectionInputSerializer

# The serializer calls the password `db_password`; the form calls it `password`.
_FIELD_NAMES = {"db_password": "password"}


class ConnectionForm(forms.Form):
    """Add or edit a connection; the password is write-only."""

    label = forms.CharField(max_length=100, required=False)
    db_type = forms.ChoiceField(label="Database type", choices=DbType.choices)
    host = forms.CharField(
        max_length=255, required=False, help_text="Not used for SQLite."
    )
    port = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=65535,
        help_text="PostgreSQL 5432, MySQL/MariaDB 3306; not used for SQLite.",
    )
    database_name = forms.CharField(
        label="Database name",
        max_length=255,
        help_text="For SQLite: a file name in the server's SQLite folder.",
    )
    username = forms.CharField(max_length=255, required=False)
    password = forms.CharField(
        required=False,
        strip=False,
        max_length=1024,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password"}
        ),
        help_text="Stored encrypted and never shown again.",
    )
    clear_password = forms.BooleanField(
        label="Remove the stored password", required=False
    )
    options = forms.JSONField(
        required=False,
        help_text='Driver options as JSON, e.g. {"sslmode": "require"}.',
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(
        self, *args: Any, instance: DatabaseConnection | None = None, **kwargs: Any
    ) -> None:
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "label": instance.label,
                "db_type": instance.db_type,
                "host": instance.host,
                "port": instance.port or None,
                "database_name": instance.database_name,
                "username": instance.username,
                "options": instance.options or None,
            }
        super().__init__(*args, **kwargs)
        if instance is None:
            del self.fields["clear_password"]
        else:
            self.fields["password"].help_text = (
                "A password is stored; leave blank to keep it."
                if instance.has_password
                else "No password stored; leave blank for none."
            )
        self.connection_fields: dict[str, Any] = {}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        data: dict[str, Any] = {
            "label": cleaned.get("label", ""),
            "db_type": cleaned["db_type"],
            "host": cleaned.get("host", ""),
            "port": cleaned.get("port") or 0,
            "database_name": cleaned.get("database_name", ""),
            "username": cleaned.get("username", ""),
            "options": cleaned.get("options") or {},
        }
        if cleaned.get("clear_password"):
            data["db_password"] = ""
        elif cleaned.get("password"):
            data["db_password"] = cleaned["password"]
        serializer = ConnectionInputSerializer(instance=self.instance, data=data)
        if not serializer.is_valid():
            for name, messages in serializer.errors.items():
                field = _FIELD_NAMES.get(name, name)
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
            return cleaned
        # Without a `password` key, connection_update keeps the stored one.
        self.connection_fields = dict(serializer.validated_data)
        return cleaned


class SessionConnectForm(forms.Form):
    """Pick one of the user's own connections for the session."""

    connection = forms.ModelChoiceField(
        queryset=DatabaseConnection.objects.none(),
        label="Database",
        empty_label=None,
    )

    def __init__(
        self, *args: Any, user: Any, exclude_connected: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        connections = connection_list_for_user(user=user)
        if exclude_connected is not None:
            # Offering the database already connected as a "switch" is noise.
            connections = connections.exclude(pk=exclude_connected)
        self.fields["connection"].queryset = connections
