"""The connection form: the API's own validation, shown next to each field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

from django import forms
from django.conf import settings

from connections.backends import backend_for, db_type_choices
from connections.fields import EDITABLE_FIELDS
from connections.models import DatabaseConnection, PrivacyTier
from connections.selectors import connection_list_for_user
from connections.serializers import ConnectionInputSerializer
from teams.selectors import team_list_for_admin

# The serializer calls the password `db_password`; the form calls it `password`.
_FIELD_NAMES = {"db_password": "password"}


class OptionsField(forms.JSONField):
    """Driver options as JSON; empty shows as an empty box, never as `null`."""

    def prepare_value(self, value: Any) -> str:
        if value in (None, "", {}, "null"):
            return ""
        return super().prepare_value(value)


def sqlite_files() -> list[str]:
    """Return the SQLite files a connection may point at, for the form to offer."""
    root = Path(settings.SQLITE_DATABASES_DIR)
    if not root.is_dir():
        return []
    return sorted(
        path.name
        for path in root.iterdir()
        if path.is_file() and path.suffix.lower() in {".sqlite", ".sqlite3", ".db"}
    )[:500]


class ConnectionForm(forms.Form):
    """Add or edit a connection; the password is write-only."""

    label = forms.CharField(max_length=100, required=False)
    db_type = forms.ChoiceField(label="Database type", choices=db_type_choices)
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
    options = OptionsField(
        required=False,
        help_text='Driver options as JSON, e.g. {"sslmode": "require"}.',
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    privacy = forms.ChoiceField(
        label="What the language model may see",
        choices=PrivacyTier.choices,
        initial=PrivacyTier.ROWS,
        required=False,
        widget=forms.RadioSelect,
        help_text="The model is usually a third-party service. Rows: it reads up to "
        "a few dozen rows of each result and a few sample values per column, to "
        "write its answer. Schema only: it reads table and column names, types and "
        "keys, and per query only the column names and the row count, never a "
        "value; you still get the full table and chart, and the answer points you "
        "to them.",
    )
    masked_columns = forms.CharField(
        label="Masked columns",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "*email*, customers.phone"}
        ),
        help_text="One per line or separated by commas: table.column, column, or a "
        "pattern such as *email*, *ssn*, password*. Their values never reach the "
        "model, whatever the tier: each value is replaced by a stable token (the "
        "same value, the same token), also when the query renames or transforms "
        "the column.",
    )
    masked_hidden = forms.BooleanField(
        label="Hide masked values from people too",
        required=False,
        help_text="Show masked values as their tokens in answers, tables, CSV "
        "downloads and the API as well.",
    )

    def __init__(
        self,
        *args: Any,
        instance: DatabaseConnection | None = None,
        user: Any = None,
        **kwargs: Any,
    ) -> None:
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                **{name: getattr(instance, name) for name in EDITABLE_FIELDS},
                "port": instance.port or None,
                "options": instance.options or "",
                "masked_columns": "\n".join(instance.masked_columns or []),
            }
        super().__init__(*args, **kwargs)
        # The page hides host, port, user and password for engines that are a
        # file (connection_form.js); which those are, the backends say.
        self.fields["db_type"].widget.attrs["data-file-types"] = " ".join(
            name for name, _ in db_type_choices() if backend_for(name).is_file
        )
        if self.is_bound:
            # A failed test shows the form again: keep what the user typed
            # rather than make them type the password once more.
            cast(
                forms.PasswordInput, self.fields["password"].widget
            ).render_value = True
        self.sqlite_files = sqlite_files()
        database_name = self.fields["database_name"]
        database_name.widget.attrs["list"] = "sqlite-files"
        if self.sqlite_files:
            database_name.help_text = (
                "For SQLite: pick one of the server's SQLite files: "
                + ", ".join(self.sqlite_files[:10])
                + (" …" if len(self.sqlite_files) > 10 else ".")
            )
        else:
            database_name.help_text = (
                "For SQLite: a file in the server's SQLite folder (there is none "
                "yet: ask the operator to put the file there)."
            )
        if user is not None:
            self._team_field_add(instance, user)
        if instance is None:
            del self.fields["clear_password"]
            self.fields["test_before_save"] = forms.BooleanField(
                label="Test the connection before saving",
                required=False,
                initial=True,
                help_text="Opens one real connection with these settings; the "
                "connection is saved only if it works.",
            )
        else:
            self.fields["password"].help_text = (
                "A password is stored; leave blank to keep it."
                if instance.has_password
                else "No password stored; leave blank for none."
            )
        self.connection_fields: dict[str, Any] = {}

    def _team_field_add(self, instance: DatabaseConnection | None, user: Any) -> None:
        """Offer the teams the user is an admin of; "only me" to its owner only
        (connection_move_target_for_user says why)."""
        admin_of = team_list_for_admin(user=user)
        if not admin_of.exists():
            return
        personal = instance is None or instance.owner_id == user.pk
        help_text = (
            "Its members connect and ask by their role without ever seeing these "
            "settings or the password; only the team's admins change it."
        )
        if instance is not None:
            self.initial.setdefault("team", instance.team_id)
            help_text += (
                " Its descriptions, examples and other knowledge go with it; "
                "members of a team it leaves lose it at once."
            )
        self.fields["team"] = forms.ModelChoiceField(
            queryset=admin_of,
            required=not personal,
            label="Share with team",
            empty_label="No: only me" if personal else None,
            help_text=help_text,
        )

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.errors:
            return cleaned
        data: dict[str, Any] = {
            **{name: cleaned.get(name) for name in EDITABLE_FIELDS},
            "label": cleaned.get("label") or "",
            "port": cleaned.get("port") or 0,
            "options": cleaned.get("options") or {},
            "privacy": cleaned.get("privacy")
            or (self.instance.privacy if self.instance else PrivacyTier.ROWS),
            "masked_columns": [
                entry.strip()
                for entry in re.split(r"[,\n]", cleaned.get("masked_columns") or "")
                if entry.strip()
            ],
            "masked_hidden": bool(cleaned.get("masked_hidden")),
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


MENU_LABEL_CHARS = 40


class ConnectionChoiceField(forms.ModelChoiceField):
    """A menu of connections whose long labels are cut: they would widen it."""

    def label_from_instance(self, obj: Any) -> str:
        name = str(obj)
        if len(name) <= MENU_LABEL_CHARS:
            return name
        return name[: MENU_LABEL_CHARS - 1] + "…"


class SessionConnectForm(forms.Form):
    """Pick one of the user's own connections for the session."""

    connection = ConnectionChoiceField(
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
        field = cast(forms.ModelChoiceField, self.fields["connection"])
        field.queryset = connections
