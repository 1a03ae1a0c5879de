"""HTML pages for accounts: log in, log out, sign up, change password."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_http_methods

from accounts.api import RegisterApi
from accounts.forms import (
    EmailAuthenticationForm,
    PlainPasswordChangeForm,
    SignupForm,
)
from accounts.services import user_register
from sqlagent_project.throttling import ScopedSettingsThrottle


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True
    extra_context = {"nav": "login"}


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
    form = SignupForm(request.POST or None)
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
        messages.success(request, f"Account created for {user.email}. Please log in.")
        return redirect("login")
    return render(request, "accounts/signup.html", {"form": form, "nav": "signup"})
