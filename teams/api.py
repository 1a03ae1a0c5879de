"""JSON API for teams and their members."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import TokenScope
from accounts.types import AuthenticatedRequest
from sqlagent_project.schema import ERROR_RESPONSES, NOT_FOUND, error
from teams import selectors, services
from teams import serializers as s
from teams.models import Invitation

TAGS = ["teams"]
# Access tokens may read teams; changing them needs a password login, as for
# connections and tokens.
_READ = {"GET": TokenScope.ASK}
_ROLE_403 = {403: error("Your role in this team does not allow this.")}


class TeamListApi(APIView):
    token_scopes = _READ

    @extend_schema(
        responses={200: s.TeamOutputSerializer(many=True), **ERROR_RESPONSES},
        tags=TAGS,
        description="Your teams, each with your role in it.",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        teams = selectors.team_list_for_user(user=request.user)
        return Response(s.TeamOutputSerializer(teams, many=True).data)

    @extend_schema(
        request=s.TeamInputSerializer,
        responses={201: s.TeamOutputSerializer, **ERROR_RESPONSES},
        tags=TAGS,
        description="Create a team; you are its first admin.",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = s.TeamInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = services.team_create(user=request.user, **serializer.validated_data)
        return Response(
            s.TeamOutputSerializer(team).data, status=status.HTTP_201_CREATED
        )


class TeamDetailApi(APIView):
    token_scopes = _READ

    @extend_schema(
        responses={200: s.TeamOutputSerializer, **ERROR_RESPONSES, **NOT_FOUND},
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest, team_id: int) -> Response:
        team = selectors.team_get_for_user(user=request.user, team_id=team_id)
        return Response(s.TeamOutputSerializer(team).data)

    @extend_schema(
        request=s.TeamUpdateSerializer,
        responses={
            200: s.TeamOutputSerializer,
            **ERROR_RESPONSES,
            **NOT_FOUND,
            **_ROLE_403,
        },
        tags=TAGS,
    )
    def patch(self, request: AuthenticatedRequest, team_id: int) -> Response:
        team = selectors.team_get_for_user(
            user=request.user, team_id=team_id, admin=True
        )
        serializer = s.TeamUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = services.team_update(team=team, **serializer.validated_data)
        return Response(s.TeamOutputSerializer(team).data)

    @extend_schema(
        responses={204: None, **ERROR_RESPONSES, **NOT_FOUND, **_ROLE_403},
        tags=TAGS,
        description="Delete the team; its connections and boards are deleted with it.",
    )
    def delete(self, request: AuthenticatedRequest, team_id: int) -> Response:
        team = selectors.team_get_for_user(
            user=request.user, team_id=team_id, admin=True
        )
        services.team_delete(team=team)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberListApi(APIView):
    token_scopes = _READ

    @extend_schema(
        responses={
            200: s.MemberOutputSerializer(many=True),
            **ERROR_RESPONSES,
            **NOT_FOUND,
        },
        tags=TAGS,
        description="The team's members, then its pending invitations.",
    )
    def get(self, request: AuthenticatedRequest, team_id: int) -> Response:
        team = selectors.team_get_for_user(user=request.user, team_id=team_id)
        members = [
            s.MemberOutputSerializer.of_membership(m)
            for m in selectors.membership_list_for_team(team=team)
        ]
        pending = [
            s.MemberOutputSerializer.of_invitation(i)
            for i in selectors.invitation_list_for_team(team=team)
        ]
        return Response(s.MemberOutputSerializer([*members, *pending], many=True).data)

    @extend_schema(
        request=s.MemberInputSerializer,
        responses={
            201: s.MemberAddedSerializer,
            **ERROR_RESPONSES,
            **NOT_FOUND,
            **_ROLE_403,
        },
        tags=TAGS,
        description=(
            "Add a registered user by email, or keep an invitation (`pending`) "
            "that they get when they register with that email; the invitation "
            "is emailed to them with the sign-up link (`emailed` says whether "
            "the mail server took it; the invitation is kept either way)."
        ),
    )
    def post(self, request: AuthenticatedRequest, team_id: int) -> Response:
        team = selectors.team_get_for_user(
            user=request.user, team_id=team_id, admin=True
        )
        serializer = s.MemberInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.member_add(
            team=team, invited_by=request.user, **serializer.validated_data
        )
        if isinstance(result.added, Invitation):
            body = s.MemberOutputSerializer.of_invitation(result.added)
        else:
            body = s.MemberOutputSerializer.of_membership(result.added)
        return Response(
            s.MemberAddedSerializer({**body, "emailed": result.emailed}).data,
            status=status.HTTP_201_CREATED,
        )


class MemberDetailApi(APIView):
    @extend_schema(
        request=s.RoleInputSerializer,
        responses={
            200: s.MemberOutputSerializer,
            **ERROR_RESPONSES,
            **NOT_FOUND,
            **_ROLE_403,
        },
        tags=TAGS,
        description="Change a member's role (admin). Demoting the last admin is a 400.",
    )
    def patch(
        self, request: AuthenticatedRequest, team_id: int, user_id: int
    ) -> Response:
        membership = selectors.membership_get_for_change(
            actor=request.user, team_id=team_id, user_id=user_id
        )
        serializer = s.RoleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.member_change_role(
            membership=membership, **serializer.validated_data
        )
        body = s.MemberOutputSerializer.of_membership(membership)
        return Response(s.MemberOutputSerializer(body).data)

    @extend_schema(
        responses={204: None, **ERROR_RESPONSES, **NOT_FOUND, **_ROLE_403},
        tags=TAGS,
        description=(
            "Remove a member (admin), or leave the team (your own id). "
            "Removing the last admin is a 400."
        ),
    )
    def delete(
        self, request: AuthenticatedRequest, team_id: int, user_id: int
    ) -> Response:
        membership = selectors.membership_get_for_change(
            actor=request.user, team_id=team_id, user_id=user_id, leaving=True
        )
        services.member_remove(membership=membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationDetailApi(APIView):
    @extend_schema(
        responses={204: None, **ERROR_RESPONSES, **NOT_FOUND, **_ROLE_403},
        tags=TAGS,
        description="Withdraw a pending invitation (admin).",
    )
    def delete(
        self, request: AuthenticatedRequest, team_id: int, invitation_id: int
    ) -> Response:
        invitation = selectors.invitation_get_for_admin(
            actor=request.user, team_id=team_id, invitation_id=invitation_id
        )
        services.invitation_cancel(invitation=invitation)
        return Response(status=status.HTTP_204_NO_CONTENT)
