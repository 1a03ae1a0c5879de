"""Find out whether a database role can do more than read, so users are told.

The service never writes through a connection, but a role that could write (or
read and write the server's files, or run programs) turns any gap in the
read-only layers into damage. Least privilege is the user's last line: blocking
findings refuse the connection unless ALLOW_PRIVILEGED_CONNECTIONS is set. What
each engine checks lives in its backend (`privileges_inspect`).
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from connections.backends import PrivilegeFinding, backend_for

# Where the refusal sends people: the README section with the SQL for a role.
READ_ONLY_ROLE_HELP = (
    'Create a read-only role instead (README, section "Read-only role", has the '
    "SQL for PostgreSQL and MySQL/MariaDB)."
)


def privilege_findings(connection: Connection, db_type: str) -> list[PrivilegeFinding]:
    """Return the connected role's excess rights; blocking ones refuse the connect."""
    backend = backend_for(db_type)
    try:
        return backend.privileges_inspect(connection)
    except SQLAlchemyError:
        # Rights that cannot be read cannot be shown to be safe.
        return [
            PrivilegeFinding(
                "Could not inspect this role's privileges; connect with a "
                "read-only role.",
                blocking=True,
            )
        ]
    finally:
        connection.rollback()


def privilege_warnings(connection: Connection, db_type: str) -> list[str]:
    """Return one readable warning per excess right of the connected role."""
    return [finding.message for finding in privilege_findings(connection, db_type)]
