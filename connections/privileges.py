"""Find out whether a database role can do more than read, so users are told.

The service never writes through a connection, but a role that could write (or
read and write the server's files, or run programs) turns any gap in the
read-only layers into damage. Least privilege is the user's last line.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from connections.models import DbType

_PG_ROLE_SQL = """
SELECT r.rolsuper,
       pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER'),
       pg_has_role(current_user, 'pg_write_server_files', 'MEMBER'),
       pg_has_role(current_user, 'pg_read_server_files', 'MEMBER'),
       EXISTS (
           SELECT 1 FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p')
             AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
       )
FROM pg_roles r WHERE r.rolname = current_user
"""

_MYSQL_WRITE_PRIVILEGES = (
    "ALL PRIVILEGES",
    "INSERT",
    "UPDATE",
    "DELETE",
    "DROP",
    "CREATE",
    "ALTER",
)


def privilege_warnings(connection: Connection, db_type: str) -> list[str]:
    """Return one readable warning per excess right of the connected role."""
    try:
        if db_type == DbType.POSTGRESQL:
            return _postgresql_warnings(connection)
        if db_type == DbType.MYSQL:
            return _mysql_warnings(connection)
    except SQLAlchemyError:
        return [
            "Could not inspect this role's privileges; connect with a read-only role."
        ]
    finally:
        connection.rollback()
    return []


def _postgresql_warnings(connection: Connection) -> list[str]:
    row = connection.execute(text(_PG_ROLE_SQL)).one_or_none()
    if row is None:
        return []
    superuser, programs, write_files, read_files, writes = row
    warnings = []
    if superuser:
        warnings.append("The role is a PostgreSQL superuser.")
    if programs:
        warnings.append("The role may run programs on the database server.")
    if write_files:
        warnings.append("The role may write files on the database server.")
    if read_files:
        warnings.append("The role may read files on the database server.")
    if writes and not superuser:
        warnings.append("The role may change data in some tables.")
    return warnings


def _mysql_warnings(connection: Connection) -> list[str]:
    grants = [str(r[0]).upper() for r in connection.execute(text("SHOW GRANTS"))]
    warnings = []
    privileges = set()
    for grant in grants:
        match = re.match(r"GRANT (.+?) ON ", grant)
        if match:
            privileges.update(p.strip() for p in match.group(1).split(","))
    if "ALL PRIVILEGES" in privileges or "SUPER" in privileges:
        warnings.append("The account has all privileges (administrator).")
    if "FILE" in privileges or "ALL PRIVILEGES" in privileges:
        warnings.append("The account has the FILE privilege (server files).")
    if any(p in privileges for p in _MYSQL_WRITE_PRIVILEGES[1:]):
        warnings.append("The account may change data or schema.")
    return warnings
