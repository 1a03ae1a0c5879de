"""Content-Security-Policy on every response: scripts, styles and fetches from this
site only, no inline script without the request's nonce, no eval, no inline style.

Django 5.2 has no CSP of its own. Pages keep their scripts and styles in static
files (Vega evaluates its expressions with vega-interpreter, so no `unsafe-eval`);
a template that must inline a script gives it `nonce="{{ csp_nonce }}"`. The
admin and the API docs (drf-spectacular's split Swagger view) work under the
same policy; `data:` images are Swagger's and Vega's icons.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def csp_policy(nonce: str) -> str:
    """Return the policy for a response whose inline scripts carry `nonce`."""
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class ContentSecurityPolicyMiddleware:
    """Give each request a fresh nonce and each response the policy naming it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = secrets.token_urlsafe(16)
        request.csp_nonce = nonce  # type: ignore[attr-defined]
        response = self.get_response(request)
        if HEADER in response or _debug_page(response):
            return response
        response[HEADER] = csp_policy(nonce)
        return response


def _debug_page(response: HttpResponse) -> bool:
    # With DEBUG on, Django's own error pages (technical 404 and 500) are
    # styled and scripted inline; they never show in production.
    return (
        settings.DEBUG
        and response.status_code >= 400
        and response.get("Content-Type", "").startswith("text/html")
    )


def csp_nonce(request: HttpRequest) -> dict[str, str]:
    """Expose the request's nonce to templates as `csp_nonce`."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}
