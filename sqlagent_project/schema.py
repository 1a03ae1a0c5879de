"""Shared OpenAPI pieces: the error shapes, and a schema class that lists only the
errors an operation can really answer with."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
    },
)

# DRF's field errors, `{"field": ["message", ...]}`, or one Error.
INVALID_INPUT_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "description": "Messages per invalid field.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "example": {"port": ["Ensure this value is less than or equal to 65535."]},
        },
        {
            "type": "object",
            "description": "One error for the whole request.",
            "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
            "required": ["detail", "code"],
        },
    ]
}


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


INVALID_INPUT = {
    400: OpenApiResponse(
        response=INVALID_INPUT_SCHEMA,
        description="Invalid input: `{field: [messages]}` or an Error.",
    )
}
UNAUTHENTICATED = {401: error("Missing, invalid or expired credentials.")}
THROTTLED = {429: error("Too many requests; see the Retry-After header.")}
ERROR_RESPONSES = {**INVALID_INPUT, **UNAUTHENTICATED, **THROTTLED}
NOT_FOUND = {404: error("No such object among yours.")}
TOO_LARGE = error("The request body is longer than REQUEST_MAX_BYTES.")


def _throttled(view: object) -> bool:
    scope = getattr(view, "throttle_scope", None)
    return bool(scope and getattr(settings, f"THROTTLE_{scope.upper()}_RATE", None))


class AutoSchema(SpectacularAutoSchema):
    """Drop the shared error responses an operation cannot produce.

    Views list ERROR_RESPONSES wholesale; a GET without parameters cannot answer
    400, and a view without a rate limit cannot answer 429.
    """

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        takes_input = (
            self.method in ("POST", "PUT", "PATCH")
            and self.get_request_serializer() is not None
        ) or any(p.get("in") == "query" for p in self._get_parameters())
        generic_400 = (
            responses.get("400", {}).get("description")
            == INVALID_INPUT[400].description
        )
        if not takes_input:
            if generic_400:
                # A 400 of the operation's own (not about its input) stays.
                responses.pop("400", None)
        elif self.method in ("POST", "PUT", "PATCH"):
            # Every body is bounded before the view (RequestBodyLimitMiddleware).
            responses["413"] = self._get_response_for_code(TOO_LARGE, "413")
        if not _throttled(self.view):
            responses.pop("429", None)
        return responses
