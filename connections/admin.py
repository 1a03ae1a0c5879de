"""Admin for connections (password write-only) and sessions (read-only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from connections import services
from connections.fields import EDITABLE_FIELDS, VALIDATED_FIELDS
from connections.models import DatabaseConnection, UserSession
from connections.validation import ConnectionInvalid, connection_validate


class ConnectionAdminForm(forms.ModelForm):
    new_password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password"}
        ),
        help_text="Write-only. Leave blank to keep the stored password.",
    )
    clear_password = forms.BooleanField(
        required=False, help_text="Remove the stored password."
    )

    class Meta:
        model = DatabaseConnection
        fields = ["owner", "team", *EDITABLE_FIELDS]
        help_texts = {
            "privacy": "rows: the model sees capped result rows and sample values; "
            "schema: names, types and row counts only, never a value.",
            "masked_columns": 'A JSON list of "table.column", "column" or patterns '
            'such as "*email*"; their values reach the model only as tokens.',
            "masked_hidden": "Show masked values as tokens to the user too.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Omitted (older clients, scripts): keep the stored tier, or the default.
        self.fields["privacy"].required = False

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.errors:
            return cleaned
        if not cleaned.get("privacy"):
            cleaned["privacy"] = self.instance.privacy or "rows"
        fields: dict[str, Any] = {name: cleaned.get(name) for name in VALIDATED_FIELDS}
        try:
            connection_validate(**fields)
        except ConnectionInvalid as exc:
            for name, message in exc.errors.items():
                self.add_error(name if name in self.fields else None, message)
        return cleaned

    def connection_fields(self) -> dict[str, Any]:
        """Return the validated fields as the connection services take them."""
        data = self.cleaned_data
        fields = {name: data.get(name) for name in EDITABLE_FIELDS}
        fields["label"] = fields["label"] or ""
        fields["options"] = fields["options"] or {}
        fields["masked_columns"] = fields["masked_columns"] or []
        if data.get("clear_password"):
            fields["password"] = ""
        elif data.get("new_password"):
            fields["password"] = data["new_password"]
        return fields


@admin.register(DatabaseConnection)
class DatabaseConnectionAdmin(admin.ModelAdmin):
    form = ConnectionAdminForm
    list_display = [
        "id",
        "__str__",
        "owner",
        "team",
        "db_type",
        "host",
        "port",
        "database_name",
        "username",
        "privacy",
        "has_password",
        "updated_at",
    ]
    list_filter = ["db_type", "privacy", "team", "owner"]
    search_fields = ["label", "host", "database_name", "username", "owner__email"]
    list_select_related = ["owner", "team"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["test_connection"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: DatabaseConnection | None = None
    ) -> list[str]:
        # A connection's team is chosen when it is added; its admins move it
        # with its rules (`connection_move_target_for_user`), on its page or
        # with PATCH /databases/{id}, not here.
        fixed = list(super().get_readonly_fields(request, obj))
        return [*fixed, "team"] if obj is not None else fixed

    def save_model(
        self,
        request: HttpRequest,
        obj: DatabaseConnection,
        form: ConnectionAdminForm,
        change: bool,
    ) -> None:
        """Save through the connection services, with their checks and effects."""
        fields = form.connection_fields()
        if change:
            # The form has already written its values onto `obj`; the service
            # compares them with the stored row to tell what changed.
            stored = DatabaseConnection.objects.get(pk=obj.pk)
            saved = services.connection_update(connection=stored, **fields)
        else:
            saved = services.connection_create(
                owner=form.cleaned_data["owner"],
                team=form.cleaned_data.get("team"),
                **fields,
            )
        obj.pk = saved.pk

    @admin.display(boolean=True, description="Password set")
    def has_password(self, obj: DatabaseConnection) -> bool:
        return obj.has_password

    @admin.action(description="Test connection")
    def test_connection(self, request: HttpRequest, queryset: QuerySet) -> None:
        for connection in queryset:
            check = services.connection_test(connection=connection)
            if check.ok:
                self.message_user(
                    request,
                    f"{connection}: OK in {check.latency_ms} ms "
                    f"(server {check.server_version}).",
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request, f"{connection}: failed: {check.error}", messages.ERROR
                )


@admin.register(UserSession)
class UserSessionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "user",
        "status",
        "db_connection",
        "created_at",
        "last_activity_at",
        "closed_at",
    ]
    list_filter = ["status"]
    search_fields = ["id", "user__email"]
    list_select_related = ["user", "db_connection"]
    actions = ["disconnect"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Disconnect selected sessions", permissions=["view"])
    def disconnect(self, request: HttpRequest, queryset: QuerySet) -> None:
        closed = 0
        for session in queryset.filter(status="active"):
            services.session_disconnect(session=session)
            closed += 1
        self.message_user(
            request, f"Disconnected {closed} session(s).", messages.SUCCESS
        )
