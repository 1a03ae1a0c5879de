"""Encrypt connection passwords at rest with Fernet, rotating keys with MultiFernet."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    """No configured key decrypts this value."""


@lru_cache(maxsize=4)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must hold at least one Fernet key."
        )
    try:
        return MultiFernet([Fernet(key.strip().encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from exc


def _fernet() -> MultiFernet:
    return _multi_fernet(tuple(k for k in settings.FIELD_ENCRYPTION_KEY if k.strip()))


def encrypt(plaintext: str) -> str:
    """Return the token for `plaintext` under the first configured key."""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Return the plaintext of `token`, trying every configured key."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "No configured FIELD_ENCRYPTION_KEY decrypts this value."
        ) from exc


def rotate(token: str) -> str:
    """Return `token` re-encrypted under the first configured key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "No configured FIELD_ENCRYPTION_KEY decrypts this value."
        ) from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()
