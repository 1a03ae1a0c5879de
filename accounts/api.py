"""JSON API for accounts: register, log in, refresh, log out, me, access tokens."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts import serializers as s
from accounts.authentication import presented_access_jti
from accounts.me import me_sections
from accounts.models import TokenScope
from accounts.selectors import token_get_for_user, token_list_for_user
from accounts.services import (
    refresh_token_revoke,
    token_create,
    token_revoke,
    user_register,
)
from accounts.types import AuthenticatedRequest
from sqlagent_project.schema import (
    ERROR_RESPONSES,
    INVALID_INPUT,
    NOT_FOUND,
    THROTTLED,
    error,
)


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "register"

    @extend_schema(
        request=s.RegisterInputSerializer,
        responses={201: s.UserOutputSerializer, **INVALID_INPUT, **THROTTLED},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        serializer = s.RegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_register(**serializer.validated_data)
        return Response(
            s.UserOutputSerializer(user).data, status=status.HTTP_201_CREATED
        )


class LoginApi(TokenObtainPairView):
    serializer_class = s.LoginSerializer
    authentication_classes: list = []
    throttle_scope = "login"

    @extend_schema(
        responses={200: s.LoginOutputSerializer, **ERROR_RESPONSES}, tags=["auth"]
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class RefreshApi(TokenRefreshView):
    authentication_classes: list = []

    @extend_schema(
        responses={200: s.RefreshOutputSerializer, **ERROR_RESPONSES}, tags=["auth"]
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class LogoutApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=s.LogoutInputSerializer,
        responses={200: s.MessageSerializer, **ERROR_RESPONSES},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        serializer = s.LogoutInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        refresh_token_revoke(
            refresh=serializer.validated_data["refresh"],
            access_jti=presented_access_jti(request),
        )
        message = "Logged out: the refresh and access tokens are revoked."
        return Response({"message": message})


class MeApi(APIView):
    token_scopes = {"GET": TokenScope.ASK}

    @extend_schema(
        responses={200: s.MeOutputSerializer, **ERROR_RESPONSES}, tags=["auth"]
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        body = dict(s.UserOutputSerializer(request.user).data)
        return Response({**body, **me_sections(request.user)})


# Token management lists no `token_scopes`: it needs a password login (JWT or
# browser session), so a leaked token cannot mint more tokens.
_TOKEN_ONLY_403 = {
    403: error("Access tokens cannot manage tokens; sign in with your password.")
}


class TokenListCreateApi(APIView):
    @extend_schema(
        responses={
            200: s.TokenOutputSerializer(many=True),
            **ERROR_RESPONSES,
            **_TOKEN_ONLY_403,
        },
        tags=["auth"],
        description="Your personal access tokens, newest first; values never shown.",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        tokens = token_list_for_user(user=request.user)
        return Response(s.TokenOutputSerializer(tokens, many=True).data)

    @extend_schema(
        request=s.TokenCreateInputSerializer,
        responses={
            201: s.TokenCreatedSerializer,
            **ERROR_RESPONSES,
            **_TOKEN_ONLY_403,
        },
        tags=["auth"],
        description=(
            "Create a personal access token for scripts and MCP clients, sent as "
            "`Authorization: Bearer sqa_…`. The `token` value is in this response "
            "only: it is stored hashed and can never be shown again."
        ),
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = s.TokenCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = token_create(owner=request.user, **serializer.validated_data)
        body = {
            **s.TokenOutputSerializer(created.token).data,
            "token": created.value,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class TokenDetailApi(APIView):
    @extend_schema(
        responses={204: None, **ERROR_RESPONSES, **NOT_FOUND, **_TOKEN_ONLY_403},
        tags=["auth"],
        description="Revoke a token for good (it stays listed, as revoked).",
    )
    def delete(self, request: AuthenticatedRequest, token_id: int) -> Response:
        token = token_get_for_user(user=request.user, token_id=token_id)
        token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
