"""HTML pages for accounts: log in, log out, sign up, change password, tokens."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.api import RegisterApi
from accounts.forms import (
    EmailAuthenticationForm,
    PlainPasswordChangeForm,
    SignupForm,
    TokenCreateForm,
)
from accounts.selectors import token_get_for_user, token_list_for_user
from accounts.services import token_create, token_revoke, user_register
from accounts.types import AuthenticatedHttpRequest
from sqlagent_project.throttling import ScopedSettingsThrottle


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True
    extra_context = {"nav": "login"}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # Only a browser that still sends a session cookie had a login that
        # could expire; a first-time visitor is just asked to log in.
        context["session_expired"] = (
            settings.SESSION_COOKIE_NAME in self.request.COOKIES
        )
        return context


class LogoutView(auth_views.LogoutView):
    """Log out on POST only (Django refuses GET since 5.0)."""


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    form_class = PlainPasswordChangeForm
    success_url = reverse_lazy("password-change-done")
    extra_context = {"nav": "account"}


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "accounts/password_change_done.html"
    extra_context = {"nav": "account"}


class _RegisterScope:
    # The page shares the API's sign-up rate limit (and its counter).
    throttle_scope = RegisterApi.throttle_scope


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("chat")
    # An invitation's link names the invited address (teams/invitations.py).
    form = SignupForm(
        request.POST or None, initial={"email": request.GET.get("email", "")}
    )
    # The throttle reads only the scope and the client's address, which a page
    # request has as much as an API request.
    if request.method == "POST" and not ScopedSettingsThrottle().allow_request(
        request,  # type: ignore[arg-type]
        _RegisterScope(),  # type: ignore[arg-type]
    ):
        form.is_valid()
        form.add_error(None, "Too many sign-ups from your address. Try again later.")
        context = {"form": form, "nav": "signup"}
        return render(request, "accounts/signup.html", context, status=429)
    if request.method == "POST" and form.is_valid():
        user = user_register(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            name=form.cleaned_data["name"],
        )
        # Signed up is logged in: asking for the password just typed is a chore.
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome! Your account {user.email} is ready.")
        return redirect("chat")
    return render(request, "accounts/signup.html", {"form": form, "nav": "signup"})


_CREATED_TOKEN = "accounts.created_token"  # noqa: S105 - a session key


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """List the user's tokens; on a valid POST create one and show its value once.

    POST, redirect, GET: a reload of the page then cannot create a second
    token. The value crosses the redirect in the user's own session and is
    taken out of it by the next GET, so it shows once and is kept nowhere.
    """
    form = TokenCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            created = token_create(
                owner=request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                expires_at=form.expires_at(),
            )
            request.session[_CREATED_TOKEN] = {
                "name": created.token.name,
                "value": created.value,
            }
            return redirect("token-list")
        status = 400
    context = {
        "form": form,
        "created": request.session.pop(_CREATED_TOKEN, None),
        "tokens": token_list_for_user(user=request.user),
        "mcp_url": request.build_absolute_uri("/mcp"),
        "nav": "tokens",
    }
    return render(request, "accounts/tokens.html", context, status=status)


@login_required
@require_POST
def token_revoke_page(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    token = token_get_for_user(user=request.user, token_id=token_id)
    token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("token-list")
