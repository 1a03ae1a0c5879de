from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

from accounts.models import PersonalAccessToken, TokenScope, User
from accounts.revocation import SESSION_CLAIM, session_id_new


class RegisterInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(
        write_only=True, max_length=128, trim_whitespace=False
    )
    name = serializers.CharField(
        max_length=150, required=False, allow_blank=True, default=""
    )

    def validate_email(self, value: str) -> str:
        value = value.strip().lower()
        if User.objects.filter(email__iexact=value).exists():
            raise serializers.ValidationError("A user with this email already exists.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        candidate = User(email=attrs["email"], name=attrs.get("name", ""))
        try:
            password_validation.validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        return attrs


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name", "date_joined"]
        read_only_fields = fields


class MeOutputSerializer(UserOutputSerializer):
    budget = serializers.JSONField(
        required=False,
        help_text="What is left today: `user` and each of your `teams` "
        "(asks_limit, asks_used, asks_left, tokens_limit, tokens_used, "
        "tokens_left, resets_at; a null limit is no limit).",
    )

    class Meta(UserOutputSerializer.Meta):
        fields = [*UserOutputSerializer.Meta.fields, "budget"]
        read_only_fields = fields


class LoginSerializer(TokenObtainPairSerializer):
    """Email and password in; an access and a refresh token out."""

    @classmethod
    def get_token(cls, user: Any) -> Any:
        # The login's session id travels in every access and refresh token of
        # this login (simplejwt copies it on refresh and rotation): a logout
        # revokes them all (accounts/revocation.py).
        token = super().get_token(user)
        token[SESSION_CLAIM] = session_id_new()
        return token

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs[self.username_field] = attrs[self.username_field].strip().lower()
        data = super().validate(attrs)
        # What a session login announces: last_login is stamped, and the lockout
        # forgets this email's earlier failures from this address.
        user_logged_in.send(
            sender=type(self.user), request=self.context.get("request"), user=self.user
        )
        return {
            "access": data["access"],
            "refresh": data["refresh"],
            "token_type": "bearer",
        }


class LoginOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    token_type = serializers.ChoiceField(choices=["bearer"])


class RefreshOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class LogoutInputSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField()


class TokenCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(
        choices=TokenScope.choices,
        help_text="`ask`: ask and read threads; `sql`: also run read-only SQL.",
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="Never, if null."
    )

    def validate_expires_at(self, value: datetime | None) -> datetime | None:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("The expiry must be in the future.")
        return value


class TokenOutputSerializer(serializers.ModelSerializer):
    token_hint = serializers.SerializerMethodField(
        help_text="The token's recognisable start; the rest is never shown again."
    )
    status = serializers.SerializerMethodField()

    class Meta:
        model = PersonalAccessToken
        fields = [
            "id",
            "name",
            "scope",
            "token_hint",
            "status",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
        ]
        read_only_fields = fields

    def get_token_hint(self, token: PersonalAccessToken) -> str:
        return f"sqa_{token.prefix}_…"

    def get_status(self, token: PersonalAccessToken) -> str:
        return token_status(token)


class TokenCreatedSerializer(TokenOutputSerializer):
    token = serializers.CharField(
        help_text="The token itself: shown in this response only, store it now."
    )

    class Meta(TokenOutputSerializer.Meta):
        fields = [*TokenOutputSerializer.Meta.fields, "token"]
        read_only_fields = fields


def token_status(token: PersonalAccessToken) -> str:
    """Return `active`, `expired` or `revoked`."""
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.is_expired else "active"
