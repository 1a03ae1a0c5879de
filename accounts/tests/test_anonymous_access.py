"""Every API route but the few public ones answers 401 to a caller with no token.

The routes come from Django's URL resolver, so an endpoint added later is held
to this without anyone remembering to write its 401 test.
"""

from __future__ import annotations

import pytest

from testsupport.routes import Route, project_routes

pytestmark = pytest.mark.django_db

# The only API routes a caller without credentials may use.
PUBLIC = {
    "/auth/register",
    "/auth/login",
    "/auth/refresh",
    # The refresh token in the body is the credential that logs out.
    "/auth/logout",
    "/health",
    "/api/schema/",
    "/api/docs/",
}
API_ROUTES = [route for route in project_routes() if route.is_api]
PROTECTED = [
    (route, method)
    for route in API_ROUTES
    if str(route) not in PUBLIC
    for method in route.methods
]


def test_the_public_list_names_only_routes_that_exist():
    assert not PUBLIC - {str(route) for route in API_ROUTES}
    # Threads and the schema browser are among the routes checked below.
    checked = {str(route) for route, _ in PROTECTED}
    assert {"/threads", "/threads/999999", "/databases/999999/schema"} <= checked


@pytest.mark.parametrize(
    ("route", "method"), PROTECTED, ids=[f"{m} {r}" for r, m in PROTECTED]
)
def test_an_anonymous_caller_gets_401_on_every_protected_api_route(
    anon_client, route: Route, method: str
):
    response = anon_client.generic(method, str(route), "{}", "application/json")

    assert response.status_code == 401
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("route", "method"), PROTECTED, ids=[f"{m} {r}" for r, m in PROTECTED]
)
def test_a_garbage_token_is_401_on_every_protected_api_route(
    anon_client, route: Route, method: str
):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    response = anon_client.generic(method, str(route), "{}", "application/json")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_the_public_routes_answer_without_credentials(anon_client):
    assert anon_client.get("/health").status_code == 200
    assert anon_client.get("/api/schema/").status_code == 200
    login = anon_client.post("/auth/login", {"email": "x@example.com"}, format="json")
    # A validation error, not a demand for credentials.
    assert login.status_code == 400


# Pages a visitor who is not logged in may open.
PUBLIC_PAGES = {"/accounts/login/", "/accounts/signup/", "/accounts/logout/"}
PAGES = [
    route
    for route in project_routes()
    if not route.is_api
    and not str(route).startswith("/admin/")
    and str(route) not in PUBLIC_PAGES
    and str(route) != "/favicon.ico"
]


@pytest.mark.parametrize("route", PAGES, ids=str)
def test_an_anonymous_visitor_is_sent_to_the_login_page_from_every_page(
    client, route: Route
):
    for method in ("GET", "POST"):
        response = client.generic(method, str(route))

        assert response.status_code == 302, method
        assert response["Location"].startswith("/accounts/login/?next=")
