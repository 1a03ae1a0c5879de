"""Pages of threads and turns: `?limit=&offset=`, the body shape unchanged.

A page keeps the response a client already reads (a list of threads; a thread
with its `turns`), and says where the rest is in headers, as GitHub's API does:
`Link: <…>; rel="next"` and `X-Total-Count`. A long thread is never one huge
answer, and existing clients keep working on the first page.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response


class HeaderLimitOffsetPagination(LimitOffsetPagination):
    """Limit/offset pages, links in the `Link` header, total in `X-Total-Count`."""

    default_limit = 50
    max_limit = 200

    def paginate_queryset(  # type: ignore[override]
        self, queryset: QuerySet, request: Request, view: Any = None
    ) -> list[Any]:
        # Bad paging input is the client's to fix: 400, not a silent default.
        for name in (self.limit_query_param, self.offset_query_param):
            raw = request.query_params.get(name)
            if raw is not None and (not raw.isdigit() or len(raw) > 9):
                raise ValidationError({name: ["A whole number of 0 or more."]})
        if request.query_params.get(self.limit_query_param) == "0":
            raise ValidationError({self.limit_query_param: ["At least 1."]})
        return super().paginate_queryset(queryset, request, view) or []

    def headers_add(self, response: Response) -> Response:
        """Add the page's `Link` and `X-Total-Count` headers to `response`."""
        links = [
            f'<{url}>; rel="{rel}"'
            for url, rel in (
                (self.get_next_link(), "next"),
                (self.get_previous_link(), "prev"),
            )
            if url
        ]
        if links:
            response["Link"] = ", ".join(links)
        response["X-Total-Count"] = str(self.count)
        return response

    def get_paginated_response(self, data: Any) -> Response:
        return self.headers_add(Response(data))

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return schema


class ThreadPagination(HeaderLimitOffsetPagination):
    """Threads, most recently active first."""


class TurnPagination(HeaderLimitOffsetPagination):
    """Turns of one thread, oldest first; each may carry up to QUERY_MAX_ROWS rows."""

    default_limit = 20
    max_limit = 100


def page_parameters(pagination: type[HeaderLimitOffsetPagination]) -> list:
    """Document `limit` and `offset` of `pagination` in the OpenAPI schema."""
    return [
        OpenApiParameter(
            "limit",
            int,
            description=(
                f"Items per page (default {pagination.default_limit}, at most "
                f"{pagination.max_limit}). The next page's URL is in the `Link` "
                'header (rel="next"), the total in `X-Total-Count`.'
            ),
        ),
        OpenApiParameter("offset", int, description="Items to skip (default 0)."),
    ]
