"""A connection's editable fields, named once for the services, admin, API and pages.

The write-only password is not among them: it is taken as `password` and stored
only encrypted (`DatabaseConnection.password_encrypted`).
"""

from __future__ import annotations

from typing import Any, TypedDict


class ConnectionFields(TypedDict, total=False):
    """A connection's editable fields as the connection services take them."""

    label: str
    db_type: str
    host: str
    port: int | None
    database_name: str
    username: str
    options: dict[str, Any] | None
    privacy: str | None
    masked_columns: list[str] | None
    masked_hidden: bool | None


# Every field a user edits, in the order forms and API responses show them.
EDITABLE_FIELDS: tuple[str, ...] = tuple(ConnectionFields.__annotations__)
# The fields `connection_validate` checks and normalises together (all but the
# free-text label).
VALIDATED_FIELDS: tuple[str, ...] = tuple(
    name for name in EDITABLE_FIELDS if name != "label"
)
# What the model may see: a change to one of them is a privacy change, after
# which earlier answers are no longer replayed to the model.
PRIVACY_FIELDS: tuple[str, ...] = ("privacy", "masked_columns", "masked_hidden")
