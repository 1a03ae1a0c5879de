from __future__ import annotations

from typing import Any

from rest_framework import serializers

from teams.models import Invitation, Membership, Team, TeamRole


class TeamInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("A team needs a name.")
        return value.strip()


class TeamUpdateSerializer(TeamInputSerializer):
    name = serializers.CharField(max_length=100, required=False)
    asks_per_day = serializers.IntegerField(
        min_value=0,
        max_value=2**31 - 1,
        required=False,
        allow_null=True,
        help_text="Questions per UTC day on the team's connections, by anyone "
        "(0: no limit; null: the service's default).",
    )
    tokens_per_day = serializers.IntegerField(
        min_value=0,
        max_value=2**62,
        required=False,
        allow_null=True,
        help_text="Model tokens per UTC day on the team's connections "
        "(0: no limit; null: the service's default).",
    )


class TeamOutputSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(
        choices=TeamRole.choices, read_only=True, help_text="Your role in the team."
    )

    class Meta:
        model = Team
        fields = ["id", "name", "role", "asks_per_day", "tokens_per_day", "created_at"]
        read_only_fields = fields


class MemberInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=TeamRole.choices)


class RoleInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=TeamRole.choices)


class MemberOutputSerializer(serializers.Serializer):
    """A member, or a pending invitation (`pending`, `user_id` null)."""

    user_id = serializers.IntegerField(allow_null=True)
    invitation_id = serializers.IntegerField(allow_null=True)
    email = serializers.EmailField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=TeamRole.choices)
    pending = serializers.BooleanField()

    @staticmethod
    def of_membership(membership: Membership) -> dict[str, Any]:
        return {
            "user_id": membership.user_id,
            "invitation_id": None,
            "email": membership.user.email,
            "name": membership.user.name,
            "role": membership.role,
            "pending": False,
        }

    @staticmethod
    def of_invitation(invitation: Invitation) -> dict[str, Any]:
        return {
            "user_id": None,
            "invitation_id": invitation.pk,
            "email": invitation.email,
            "name": "",
            "role": invitation.role,
            "pending": True,
        }


class MemberAddedSerializer(MemberOutputSerializer):
    emailed = serializers.BooleanField(
        help_text="Whether the invitation email went out (always false for a "
        "registered user, who is added at once). The invitation is kept "
        "either way."
    )
