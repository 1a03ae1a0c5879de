"""Find out whether a database role can do more than read, and refuse it if so.

The service never writes through a connection, but a role that could write (or
read and write the server's files, or run programs) turns any gap in the
read-only layers into damage. Least privilege is the user's last line: blocking
findings refuse the connection unless ALLOW_PRIVILEGED_CONNECTIONS is set. What
each engine checks lives in its backend (`privileges_inspect`); the gate in
`connections.engines` runs it on every physical connection it has no verdict for.

Verdicts are kept in-process per connection record version, so the inspection
query runs once per record change (and at most every VERDICT_TTL_S seconds per
record), not on every ask.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any

from django.conf import settings

from connections.backends import PrivilegeFinding, backend_for
from connections.exceptions import PrivilegedConnectionRefused
from connections.models import DatabaseConnection

# Where the refusal sends people: the README section with the SQL for a role.
READ_ONLY_ROLE_HELP = (
    'Create a read-only role instead (README, section "Read-only role", has the '
    "SQL for PostgreSQL and MySQL/MariaDB)."
)
# A role's rights can change on the server without the record changing: a
# verdict is trusted this long, then the next physical connection inspects again.
VERDICT_TTL_S = 600.0
_VERDICTS_KEPT = 2048


# Rights that cannot be read cannot be shown to be safe: this refuses the
# connection, but is not kept as a verdict (a network blip must not refuse a
# connection for VERDICT_TTL_S; a lasting cause is found again at each connect).
INSPECTION_FAILED = PrivilegeFinding(
    "Could not inspect this role's privileges; connect with a read-only role.",
    blocking=True,
)


def privilege_findings(dbapi_connection: Any, db_type: str) -> list[PrivilegeFinding]:
    """Return the connected role's excess rights; blocking ones refuse the connect."""
    backend = backend_for(db_type)
    try:
        return backend.privileges_inspect(dbapi_connection)
    except NotImplementedError:
        raise
    except Exception:
        # Any driver error, whatever the driver's exception classes.
        return [INSPECTION_FAILED]
    finally:
        with contextlib.suppress(Exception):
            dbapi_connection.rollback()


def privileged_refusal(
    findings: Iterable[PrivilegeFinding],
) -> PrivilegedConnectionRefused | None:
    """Return the refusal the findings call for under the setting of the moment."""
    blocking = [finding.message for finding in findings if finding.blocking]
    if not blocking or settings.ALLOW_PRIVILEGED_CONNECTIONS:
        return None
    return PrivilegedConnectionRefused(
        "This service refuses database roles with more than read rights: "
        + " ".join(blocking)
        + " Connect with a read-only role instead: the README section "
        '"Read-only role" has the SQL to create one.'
    )


def verdict_key(conn: DatabaseConnection) -> Hashable:
    """Return what identifies who connects where: the record and its version, and
    a digest of every field that decides the role (a queryset `update()` leaves
    `updated_at` alone, the digest still changes)."""
    material = json.dumps(
        [
            conn.db_type,
            conn.host,
            conn.port,
            conn.database_name,
            conn.username,
            conn.password_encrypted,
            conn.options or {},
        ],
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(material.encode()).hexdigest()
    return (conn.pk, conn.updated_at, digest)


class VerdictCache:
    """Findings per connection version, thread-safe, bounded, each for a while."""

    def __init__(self) -> None:
        self._entries: OrderedDict[Hashable, tuple[float, tuple[PrivilegeFinding, ...]]]
        self._entries = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[PrivilegeFinding, ...] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_at, findings = entry
            if time.monotonic() - stored_at > VERDICT_TTL_S:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return findings

    def put(self, key: Hashable, findings: Iterable[PrivilegeFinding]) -> None:
        """Keep the findings as the verdict, unless the inspection failed."""
        findings = tuple(findings)
        if INSPECTION_FAILED in findings:
            return
        with self._lock:
            self._entries[key] = (time.monotonic(), findings)
            self._entries.move_to_end(key)
            while len(self._entries) > _VERDICTS_KEPT:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


verdicts = VerdictCache()
