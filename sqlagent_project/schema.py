"""Shared OpenAPI pieces: the error shape every endpoint may answer with."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
    },
)


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


ERROR_RESPONSES = {
    400: OpenApiResponse(
        description="Invalid input: `{field: [messages]}` or an Error."
    ),
    401: error("Missing, invalid or expired credentials."),
    429: error("Too many requests; see the Retry-After header."),
}
NOT_FOUND = {404: error("No such object among yours.")}
