"""The OpenAPI schema at /api/schema/ and Swagger UI at /api/docs/."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate
from rest_framework.views import APIView

pytestmark = pytest.mark.django_db

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def schema(client: Client) -> dict[str, Any]:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def _api_routes(
    patterns: list[Any] | None = None, prefix: str = ""
) -> dict[str, type[APIView]]:
    """Return every DRF route of the project as an OpenAPI path template."""
    routes: dict[str, type[APIView]] = {}
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            routes.update(_api_routes(entry.url_patterns, prefix + str(entry.pattern)))
        elif isinstance(entry, URLPattern):
            view = getattr(entry.callback, "cls", None)
            if view is None or not issubclass(view, APIView):
                continue
            if view.__module__.startswith("drf_spectacular"):
                continue
            if "schema" in vars(view) and vars(view)["schema"] is None:
                continue  # excluded on purpose (/mcp speaks JSON-RPC, not REST)
            route = prefix + str(entry.pattern)
            routes["/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)] = view
    return routes


def test_the_schema_validates_as_openapi_3(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_the_schema_lists_every_api_route_and_method(schema: dict[str, Any]) -> None:
    routes = _api_routes()

    assert set(schema["paths"]) == set(routes)
    for path, view in routes.items():
        implemented = {m for m in HTTP_METHODS if hasattr(view, m)}
        assert set(schema["paths"][path]) == implemented, path
    assert {"/ask", "/threads", "/threads/{thread_id}", "/auth/login"} <= set(routes)


def test_the_schema_declares_jwt_bearer_and_requires_it_where_needed(
    schema: dict[str, Any],
) -> None:
    jwt = schema["components"]["securitySchemes"]["jwtAuth"]
    assert (jwt["type"], jwt["scheme"], jwt["bearerFormat"]) == (
        "http",
        "bearer",
        "JWT",
    )
    ask = schema["paths"]["/ask"]["post"]
    assert {"jwtAuth": []} in ask["security"]
    for path in ("/health", "/auth/register"):
        operation = schema["paths"][path]["get" if path == "/health" else "post"]
        assert operation.get("security", [{}]) == [{}]


def test_the_schema_describes_request_bodies_and_error_shapes(
    schema: dict[str, Any],
) -> None:
    paths = schema["paths"]
    ask = paths["/ask"]["post"]
    body_ref = ask["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert "question" in body["required"]
    assert {"401", "409", "502", "503", "504"} <= set(ask["responses"])
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"detail", "code"}
    add = paths["/databases/add_db_connection"]["post"]
    add_ref = add["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    add_body = schema["components"]["schemas"][add_ref.rsplit("/", 1)[1]]
    assert add_body["properties"]["db_password"]["writeOnly"] is True
    assert "400" in add["responses"]
    assert "404" in paths["/databases/{db_id}"]["get"]["responses"]
    assert "404" in paths["/threads/{thread_id}"]["get"]["responses"]
    # A GET without input cannot answer 400, and only rate-limited views 429.
    assert "400" not in paths["/databases"]["get"]["responses"]
    assert "429" not in paths["/databases"]["get"]["responses"]
    assert "429" in paths["/auth/login"]["post"]["responses"]


def test_no_response_schema_carries_a_connection_password(
    schema: dict[str, Any],
) -> None:
    for name, component in schema["components"]["schemas"].items():
        if name.endswith("Request"):
            continue
        properties = component.get("properties", {})
        assert "db_password" not in properties, name
        assert "password_encrypted" not in properties, name


def test_swagger_ui_loads_its_assets_from_this_server(client: Client) -> None:
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    assert not [a for a in assets if a.startswith(("http:", "https:", "//"))]
    scripts = [a for a in assets if a.endswith(".js")]
    assert any("swagger-ui" in a for a in scripts)
    # The one page link is the way back to the app; every asset is served here.
    assets = [a for a in assets if a != "/"]
    for asset in assets:
        asset_response = client.get(asset)
        assert asset_response.status_code == 200, asset
    # The start-up script is a file too (no inline script under the CSP).
    start_up = client.get("/api/docs/?script=")
    assert start_up["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in start_up.content.decode()
