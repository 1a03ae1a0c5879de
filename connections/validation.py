"""The one check of a connection's fields, used by the API, the pages, the admin and
the services themselves, so no way in skips a save-time rule."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from connections import target_policy
from connections.backends import UnknownDatabaseType, backend_for
from connections.models import PrivacyTier
from sqlagent_project.errors import ApplicationError


class ConnectionInvalid(ApplicationError):
    """One or more connection fields are invalid; `errors` maps field to message."""

    status_code = 400
    code = "invalid"
    default_message = "The connection is not valid."

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__(" ".join(errors.values()), extra={"errors": errors})


@dataclass(frozen=True)
class ValidConnection:
    """Connection fields as they will be stored (SQLite's server fields emptied)."""

    db_type: str
    host: str
    port: int
    database_name: str
    username: str
    options: dict[str, str]
    privacy: str = PrivacyTier.ROWS
    masked_columns: list[str] = field(default_factory=list)
    masked_hidden: bool = False

    @property
    def is_file(self) -> bool:
        return backend_for(self.db_type).is_file

    def stored_fields(self) -> dict[str, Any]:
        """Return the fields as DatabaseConnection stores them."""
        return dataclasses.asdict(self)


def connection_validate(
    *,
    db_type: str,
    database_name: str,
    host: str = "",
    port: int | None = 0,
    username: str = "",
    options: Any = None,
    privacy: str | None = PrivacyTier.ROWS,
    masked_columns: Any = None,
    masked_hidden: bool | None = False,
) -> ValidConnection:
    """Return the fields normalised, or raise ConnectionInvalid with every problem."""
    errors: dict[str, str] = {}
    host = (host or "").strip()
    port = port or 0
    username = username or ""
    try:
        backend = backend_for(db_type)
    except UnknownDatabaseType as exc:
        raise ConnectionInvalid({"db_type": str(exc)}) from None
    if backend.is_file:
        # Server fields mean nothing for a file; clients send "" and 0.
        host, port, username = "", 0, ""
        try:
            target_policy.sqlite_path_resolve(database_name)
        except target_policy.TargetRefused as exc:
            errors[exc.field] = str(exc)
    else:
        if not host:
            errors["host"] = f"A host is required for {db_type}."
        if not port:
            errors["port"] = "A port between 1 and 65535 is required."
        if not username.strip():
            errors["username"] = f"A username is required for {db_type}."
        if not (database_name or "").strip():
            errors["database_name"] = "A database name is required."
        if host and "host" not in errors:
            try:
                target_policy.check_hostname(host)
                target_policy.check_not_app_database(
                    db_type=db_type,
                    host=host,
                    port=port,
                    database_name=database_name,
                )
            except target_policy.TargetRefused as exc:
                errors[exc.field] = str(exc)
    try:
        clean_options = target_policy.validate_options(db_type, options)
    except target_policy.TargetRefused as exc:
        errors[exc.field] = str(exc)
        clean_options = {}
    privacy = privacy or PrivacyTier.ROWS
    if privacy not in PrivacyTier.values:
        errors["privacy"] = (
            f"Unknown privacy tier '{privacy}'; use one of "
            + ", ".join(PrivacyTier.values)
            + "."
        )
    try:
        clean_masks = masked_columns_validate(masked_columns)
    except ValueError as exc:
        errors["masked_columns"] = str(exc)
        clean_masks = []
    if errors:
        raise ConnectionInvalid(errors)
    return ValidConnection(
        db_type=db_type,
        host=host,
        port=port,
        database_name=database_name,
        username=username,
        options=clean_options,
        privacy=privacy,
        masked_columns=clean_masks,
        masked_hidden=bool(masked_hidden),
    )


MASKED_COLUMNS_MAX = 100
MASKED_COLUMN_MAX_LENGTH = 130
# `column` or `table.column`; each part a name, optionally with `*` and `?`.
_MASK_PART = r"[\w$*?-]+"
_MASK_RE = re.compile(rf"{_MASK_PART}(\.{_MASK_PART})?")


def masked_columns_validate(value: Any) -> list[str]:
    """Return the masked column names/patterns, stripped and deduplicated.

    Raise ValueError with the reason when the list or one of its entries is
    not a `column`, `table.column` or glob (`*`, `?`) of those.
    """
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError("masked_columns must be a list of column names or patterns.")
    if len(value) > MASKED_COLUMNS_MAX:
        raise ValueError(f"At most {MASKED_COLUMNS_MAX} masked columns are allowed.")
    clean: list[str] = []
    for entry in value:
        if not isinstance(entry, str):
            raise ValueError("Each masked column must be a string.")
        entry = entry.strip()
        if len(entry) > MASKED_COLUMN_MAX_LENGTH:
            raise ValueError(
                f"A masked column is longer than {MASKED_COLUMN_MAX_LENGTH} characters."
            )
        if not _MASK_RE.fullmatch(entry):
            raise ValueError(
                f"'{entry[:40]}' is not a column name or pattern: write "
                "`table.column`, `column`, or a pattern with * and ? "
                "such as `*email*`."
            )
        if entry.lower() not in {c.lower() for c in clean}:
            clean.append(entry)
    return clean
