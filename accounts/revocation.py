"""Access JWTs revoked before they expire: a logout ends its session's access tokens.

An access JWT is checked by its signature alone, so a logout that only
blacklists the refresh token left the access tokens working until they expired.
Each login names its session (`sid`, copied into every access and rotated refresh
token of that login); a logout puts the session, and the access token it was
sent with, on a denylist in the shared cache for as long as such a token can
live. Every JWT request then costs one cache read.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from rest_framework_simplejwt.settings import api_settings

SESSION_CLAIM = "sid"


def session_id_new() -> str:
    """Return a fresh id for a login's session."""
    return uuid.uuid4().hex


def _session_key(session_id: str) -> str:
    return f"jwt-deny:sid:{session_id}"


def _jti_key(jti: str) -> str:
    return f"jwt-deny:jti:{jti}"


def access_session_revoke(*, session_id: str | None, access_jti: str = "") -> None:
    """Refuse, from now on, every access token of `session_id` (and `access_jti`).

    An entry lives as long as an access token minted just before the logout
    can (the refresh token is blacklisted, so none is minted after it).
    """
    entries = {}
    if session_id:
        entries[_session_key(session_id)] = 1
    if access_jti:
        entries[_jti_key(access_jti)] = 1
    if entries:
        cache.set_many(entries, timeout=_access_lifetime_s() + 60)


def _access_lifetime_s() -> int:
    leeway = api_settings.LEEWAY
    if isinstance(leeway, timedelta):
        leeway = leeway.total_seconds()
    return int(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds() + float(leeway or 0))


def access_revoked(payload: Mapping[str, Any]) -> bool:
    """Return whether this access token's session or the token itself is revoked."""
    keys = []
    session_id = payload.get(SESSION_CLAIM)
    if isinstance(session_id, str) and session_id:
        keys.append(_session_key(session_id))
    jti = payload.get(api_settings.JTI_CLAIM)
    if isinstance(jti, str) and jti:
        keys.append(_jti_key(jti))
    return bool(keys) and bool(cache.get_many(keys))
