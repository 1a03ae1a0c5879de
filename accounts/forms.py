"""Forms of the account pages: log in with email, sign up, access tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.utils import timezone

from accounts.models import TokenScope, User


class EmailAuthenticationForm(AuthenticationForm):
    """Django's login form, labelled for email and case-insensitive."""

    username = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    def clean(self) -> dict[str, Any]:
        if self.cleaned_data.get("username"):
            self.cleaned_data["username"] = self.cleaned_data["username"].lower()
        return super().clean()


class SignupForm(forms.Form):
    """Email, name and a password Django's validators accept, typed twice."""

    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    name = forms.CharField(max_length=150, required=False)
    password1 = forms.CharField(
        label="Password",
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not entirely numeric, not a common one.",
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A user with this email already exists.")
        return email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password1 = cleaned.get("password1")
        password2 = cleaned.get("password2")
        # Both are said at once: a weak password is flagged even when the second
        # box differs, so the user does not fix one only to meet the other.
        if password1:
            candidate = User(
                email=cleaned.get("email", ""), name=cleaned.get("name") or ""
            )
            try:
                password_validation.validate_password(password1, user=candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords differ.")
        return cleaned


class PlainPasswordChangeForm(PasswordChangeForm):
    """Django's form with a plain-text hint (its own hint is HTML)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].help_text = SignupForm.base_fields[
            "password1"
        ].help_text


class TokenCreateForm(forms.Form):
    """Name, scope and lifetime of a new personal access token."""

    EXPIRY_CHOICES = [
        ("", "Never"),
        ("7", "In 7 days"),
        ("30", "In 30 days"),
        ("90", "In 90 days"),
        ("365", "In a year"),
    ]

    name = forms.CharField(
        max_length=100, help_text="What uses it, e.g. “Claude Desktop on my laptop”."
    )
    scope = forms.ChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.ASK,
        help_text="sql also lets the token run read-only SQL you (or an AI) wrote.",
    )
    expires_in_days = forms.TypedChoiceField(
        label="Expires",
        choices=EXPIRY_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
    )

    def expires_at(self) -> datetime | None:
        """Return the expiry the chosen lifetime gives, counted from now."""
        days = self.cleaned_data.get("expires_in_days")
        return None if days is None else timezone.now() + timedelta(days=days)
