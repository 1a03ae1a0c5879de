"""Personal access token values: minted, parsed and checked against their digest.

A token reads `sqa_<prefix>_<secret>`. The prefix (random, stored in clear) finds
the row; the whole value's SHA-256 is what is stored. The secret carries 256 bits
of randomness, so a plain digest is safe against guessing, and no key rotation
can invalidate every token at once (as an HMAC with SECRET_KEY would).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "sqa_"  # noqa: S105 (a marker, not a secret)
_SHAPE = re.compile(r"^sqa_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$")
_PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class MintedToken:
    value: str
    prefix: str
    digest: str


def token_digest(value: str) -> str:
    """Return the hex SHA-256 of a token value, as stored."""
    return hashlib.sha256(value.encode()).hexdigest()


def token_mint() -> MintedToken:
    """Return a fresh token value with its lookup prefix and digest."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
    value = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return MintedToken(value=value, prefix=prefix, digest=token_digest(value))


def token_prefix_of(value: str) -> str | None:
    """Return the lookup prefix of a well-formed token value, else None."""
    match = _SHAPE.match(value)
    return match.group(1) if match else None


def token_matches(value: str, digest: str) -> bool:
    """Compare a presented value with a stored digest in constant time."""
    return hmac.compare_digest(token_digest(value), digest)
