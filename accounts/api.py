"""JSON API for accounts: register, log in, refresh, log out, me."""

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
from accounts.services import refresh_token_revoke, user_register
from accounts.types import AuthenticatedRequest
from sqlagent_project.schema import ERROR_RESPONSES, INVALID_INPUT, THROTTLED


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
        refresh_token_revoke(refresh=serializer.validated_data["refresh"])
        return Response({"message": "Logged out: the refresh token is revoked."})


class MeApi(APIView):
    @extend_schema(
        responses={200: s.UserOutputSerializer, **ERROR_RESPONSES}, tags=["auth"]
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        return Response(s.UserOutputSerializer(request.user).data)
