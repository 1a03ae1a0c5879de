from __future__ import annotations

from typing import Any, cast

from rest_framework import serializers

from connections.backends import db_type_choices
from connections.fields import EDITABLE_FIELDS, VALIDATED_FIELDS
from connections.models import DatabaseConnection, PrivacyTier, UserSession
from connections.selectors import ConnectionAccess, connection_allows
from connections.validation import ConnectionInvalid, connection_validate


class FlatErrorListField(serializers.ListField):
    """A list whose item errors come as one flat list of messages, the shape every
    other field's errors have (DRF would key them by index)."""

    def to_internal_value(self, data: Any) -> list[Any]:
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):
                raise
            messages = [
                f"Entry {int(index) + 1}: {message}"
                for index, errors in exc.detail.items()
                for message in (errors if isinstance(errors, list) else [errors])
            ]
            raise serializers.ValidationError(messages) from exc


class ConnectionInputSerializer(serializers.Serializer):
    """Validate a connection as a whole; with `partial`, merge into the instance."""

    # The API field is called `label`, like Field.label the stubs declare.
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=100, required=False, allow_blank=True
    )
    # The registered engines, read per instance (see __init__).
    db_type = serializers.ChoiceField(choices=[])
    host = serializers.CharField(
        max_length=255, required=False, allow_blank=True, default=""
    )
    port = serializers.IntegerField(
        min_value=0, max_value=65535, required=False, default=0
    )
    database_name = serializers.CharField(max_length=255)
    username = serializers.CharField(
        max_length=255, required=False, allow_blank=True, default=""
    )
    db_password = serializers.CharField(
        max_length=1024,
        required=False,
        allow_blank=True,
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Write-only: stored encrypted, never returned.",
    )
    options = serializers.JSONField(required=False, default=dict)
    privacy = serializers.ChoiceField(
        choices=PrivacyTier.choices,
        required=False,
        default=PrivacyTier.ROWS,
        help_text="What the LLM may see: `rows` (capped result rows and sample "
        "values) or `schema` (names, types and row counts, never a value).",
    )
    masked_columns = FlatErrorListField(
        child=serializers.CharField(allow_blank=True, max_length=1000),
        required=False,
        default=list,
        help_text="`table.column`, `column` or patterns such as `*email*` whose "
        "values never reach the LLM (each value becomes a stable token).",
    )
    masked_hidden = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Show masked values as their tokens to the user too "
        "(answers, stored rows, CSV, pages).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        db_type = cast(serializers.ChoiceField, self.fields["db_type"])
        db_type.choices = db_type_choices()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        merged = self._merged(attrs)
        fields: dict[str, Any] = {name: merged.get(name) for name in VALIDATED_FIELDS}
        try:
            valid = connection_validate(**fields)
        except ConnectionInvalid as exc:
            raise serializers.ValidationError(exc.errors) from exc
        # The given values as they will be stored (the services merge the rest).
        for name in VALIDATED_FIELDS:
            if name in attrs:
                attrs[name] = getattr(valid, name)
        if valid.is_file:
            attrs.pop("db_password", None)
            attrs["password"] = ""
        elif "db_password" in attrs:
            attrs["password"] = attrs.pop("db_password")
        return attrs

    def _merged(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance: DatabaseConnection | None = self.instance
        if instance is None:
            return attrs
        current = {name: getattr(instance, name) for name in VALIDATED_FIELDS}
        return {**current, **attrs}


class ConnectionCreateInputSerializer(ConnectionInputSerializer):
    team_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Share with this team (you must be one of its admins); "
        "null or absent: your own connection.",
    )


class ConnectionUpdateInputSerializer(ConnectionInputSerializer):
    team_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Move it: into a team you are an admin of (its knowledge goes "
        "with it), or null to make it personal again (its owner only). Absent: "
        "it stays where it is.",
    )


# What a team member who cannot manage a team connection sees of it: never its
# settings (host, port, user name, driver options).
_MEMBER_FIELDS = frozenset(
    {
        "id",
        "label",
        "db_type",
        "database_name",
        "privacy",
        "masked_columns",
        "masked_hidden",
        "team_id",
        "can_manage",
        "created_at",
        "updated_at",
    }
)


class ConnectionOutputSerializer(serializers.ModelSerializer):
    owner_id = serializers.IntegerField(read_only=True)
    has_password = serializers.BooleanField(read_only=True)
    team_id = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Null for your own connections."
    )
    can_manage = serializers.SerializerMethodField(
        help_text="Whether you may change, delete and read the settings of it "
        "(yours, or a team's you are an admin of). When false, the settings "
        "(host, port, username, options, owner) are left out."
    )

    class Meta:
        model = DatabaseConnection
        fields = [
            "id",
            *EDITABLE_FIELDS,
            "has_password",
            "owner_id",
            "team_id",
            "can_manage",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_can_manage(self, connection: DatabaseConnection) -> bool:
        return connection_allows(connection, ConnectionAccess.MANAGE)

    def to_representation(self, instance: DatabaseConnection) -> dict[str, Any]:
        data = super().to_representation(instance)
        if data["can_manage"]:
            return data
        return {name: value for name, value in data.items() if name in _MEMBER_FIELDS}


class ConnectionCreatedSerializer(serializers.Serializer):
    message = serializers.CharField()
    db_connection = ConnectionOutputSerializer()


class ConnectionTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    latency_ms = serializers.FloatField(required=False)
    server_version = serializers.CharField(required=False)
    warnings = serializers.ListField(child=serializers.CharField(), required=False)
    error = serializers.CharField(required=False)


class SessionDatabaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = DatabaseConnection
        fields = ["id", "label", "db_type", "host", "port", "database_name", "username"]
        read_only_fields = fields


class SessionStatusSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    session_id = serializers.UUIDField(source="id")
    thread_id = serializers.UUIDField()
    status = serializers.CharField()
    database_connected = serializers.SerializerMethodField()
    database = SessionDatabaseSerializer(source="db_connection", allow_null=True)
    warnings = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    last_activity_at = serializers.DateTimeField()

    def get_database_connected(self, session: UserSession) -> bool:
        return session.db_connection_id is not None

    def to_representation(self, session: UserSession) -> dict[str, Any]:
        # Clients poll this. Binding the fields above (and building the nested
        # ModelSerializer's from the model) on every call costs more than the
        # query; they still define the schema, and a test pins this output to
        # theirs.
        connection = session.db_connection
        # A team connection's settings are for its admins (the session check
        # read the caller's role).
        settings_shown = connection is not None and connection_allows(
            connection, ConnectionAccess.MANAGE
        )
        session_id = _UUID(session.id)
        return {
            "user_id": int(session.user_id),
            "session_id": session_id,
            "thread_id": session_id,
            "status": str(session.status),
            "database_connected": session.db_connection_id is not None,
            "database": None
            if connection is None
            else {
                "id": int(connection.id),
                "label": str(connection.label),
                "db_type": str(connection.db_type),
                "host": str(connection.host) if settings_shown else "",
                "port": int(connection.port) if settings_shown else 0,
                "database_name": str(connection.database_name),
                "username": str(connection.username) if settings_shown else "",
            },
            "warnings": [None if w is None else str(w) for w in session.warnings],
            "created_at": _DATETIME(session.created_at),
            "last_activity_at": _DATETIME(session.last_activity_at),
        }


# Unbound fields, used only for their output format.
_UUID = serializers.UUIDField().to_representation
_DATETIME = serializers.DateTimeField().to_representation


class ConnectResultSerializer(serializers.Serializer):
    message = serializers.CharField()
    session_id = serializers.UUIDField()
    thread_id = serializers.UUIDField()
    db_id = serializers.IntegerField()
    database_name = serializers.CharField()
    user_id = serializers.IntegerField()
    warnings = serializers.ListField(child=serializers.CharField())


class DisconnectResultSerializer(serializers.Serializer):
    message = serializers.CharField()
    session_id = serializers.UUIDField()
    thread_id = serializers.UUIDField()
    user_id = serializers.IntegerField()


class QueueHealthSerializer(serializers.Serializer):
    """The task queue, shown only when a broker is configured."""

    broker = serializers.ChoiceField(choices=["ok", "unavailable"])
    worker = serializers.ChoiceField(choices=["ok", "none_recently"])
    worker_seen_at = serializers.DateTimeField(allow_null=True)


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
    version = serializers.CharField()
    database = serializers.CharField()
    queue = QueueHealthSerializer(required=False)
