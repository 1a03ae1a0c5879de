"""What a personal access token may do: each view says which scope it needs.

A view declares `token_scopes = {"GET": "ask", "POST": "sql", ...}`; a method it
does not list is closed to tokens (password logins, JWT or browser session, are
unaffected). Token management lists nothing, so a token can never mint tokens.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import PersonalAccessToken


class TokenScopePermission(BasePermission):
    """Refuse (403) a token-authenticated request its token's scope does not cover."""

    message = "This access token cannot be used for this request."
    code = "token_scope"

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, PersonalAccessToken):
            return True
        needed = getattr(view, "token_scopes", {}).get(request.method)
        if needed is None:
            self.message = (
                "Access tokens cannot be used here; sign in with your password."
            )
            return False
        if not token.allows(needed):
            self.message = (
                f"This access token's scope ({token.scope}) does not allow this;"
                f" it needs the '{needed}' scope."
            )
            return False
        return True
