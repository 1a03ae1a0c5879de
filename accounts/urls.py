from __future__ import annotations

from django.urls import path

from accounts import api, views

urlpatterns = [
    path("auth/register", api.RegisterApi.as_view(), name="auth-register"),
    path("auth/login", api.LoginApi.as_view(), name="auth-login"),
    path("auth/refresh", api.RefreshApi.as_view(), name="auth-refresh"),
    path("auth/logout", api.LogoutApi.as_view(), name="auth-logout"),
    path("auth/me", api.MeApi.as_view(), name="auth-me"),
    path("auth/tokens", api.TokenListCreateApi.as_view(), name="auth-tokens"),
    path(
        "auth/tokens/<int:token_id>",
        api.TokenDetailApi.as_view(),
        name="auth-token-detail",
    ),
    # HTML pages
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    path(
        "accounts/password/change/",
        views.PasswordChangeView.as_view(),
        name="password-change",
    ),
    path("accounts/tokens/", views.token_list, name="token-list"),
    path(
        "accounts/tokens/<int:token_id>/revoke/",
        views.token_revoke_page,
        name="token-revoke",
    ),
    path(
        "accounts/password/change/done/",
        views.PasswordChangeDoneView.as_view(),
        name="password-change-done",
    ),
]
