"""Rate limits: DRF scoped throttling with the rates read from settings."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle


class ScopedSettingsThrottle(ScopedRateThrottle):
    """Throttle views by `throttle_scope` at the rate `THROTTLE_<SCOPE>_RATE`.

    DRF's own class copies its rates at import time; reading settings on every
    request lets deployments and tests change them. Anonymous requests count per
    client address, authenticated ones per user. Views without a scope, or a
    scope without a rate, are not throttled.
    """

    def get_rate(self) -> str | None:
        return (
            getattr(settings, f"THROTTLE_{(self.scope or '').upper()}_RATE", None)
            or None
        )


def client_address(request: HttpRequest) -> str:
    """Return the client's address the way the rate limits see it (NUM_PROXIES)."""
    # get_ident reads only META, which a Django request and a DRF one share.
    return BaseThrottle().get_ident(request)  # type: ignore[arg-type]
