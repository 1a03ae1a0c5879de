"""Where a connection may point: hosts, networks, driver options and SQLite files.

Checked when a connection is saved (for a clear 400) and again every time a
physical connection is opened (hostnames are re-resolved, so DNS rebinding
cannot move a saved connection onto a forbidden address).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Driver options a user may set live in each engine backend (`allowed_options`);
# anything else (local_infile, init_command, sslrootcert paths, libpq
# `options`, ...) is refused.


class TargetRefused(Exception):
    """The connection points somewhere this service will not go."""

    def __init__(self, message: str, *, field: str = "host"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class _Policy:
    allow: tuple[IPNetwork, ...]
    allow_hosts: frozenset[str]
    deny: tuple[IPNetwork, ...]
    deny_hosts: frozenset[str]


def _split(entries: list[str]) -> tuple[tuple[IPNetwork, ...], frozenset[str]]:
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return tuple(networks), frozenset(hosts)


def _policy() -> _Policy:
    allow, allow_hosts = _split(settings.TARGET_HOSTS_ALLOW)
    deny, deny_hosts = _split(settings.TARGET_HOSTS_DENY)
    return _Policy(allow, allow_hosts, deny, deny_hosts)


def validate_options(db_type: str, options: object) -> dict[str, str]:
    """Return the options if every key and value is on the allow-list."""
    if options in (None, ""):
        return {}
    if not isinstance(options, dict):
        raise TargetRefused(
            "Options must be an object of driver settings.", field="options"
        )
    from connections.backends import UnknownDatabaseType, backend_for

    try:
        allowed = backend_for(db_type).allowed_options
    except UnknownDatabaseType as exc:
        raise TargetRefused(str(exc), field="db_type") from exc
    cleaned: dict[str, str] = {}
    for key, value in options.items():
        if key not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            raise TargetRefused(
                f"Option '{key}' is not allowed for {db_type} (allowed: {names}).",
                field="options",
            )
        if not isinstance(value, str) or value not in allowed[key]:
            choices = ", ".join(sorted(allowed[key]))
            raise TargetRefused(
                f"Option '{key}' must be one of: {choices}.", field="options"
            )
        cleaned[key] = value
    return cleaned


def check_hostname(host: str) -> None:
    """Refuse a host named on the deny-list, or missing from a non-empty allow-list."""
    policy = _policy()
    name = host.lower().rstrip(".")
    if name in policy.deny_hosts:
        raise TargetRefused(f"Host '{host}' is not allowed by this service's policy.")
    _check_literal_address(name, policy)


def _check_literal_address(name: str, policy: _Policy) -> None:
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return
    _check_address(address, name, policy)


def _check_address(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str, policy: _Policy
) -> None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if any(address in network for network in policy.deny):
        raise TargetRefused(
            f"Host '{host}' resolves to {address}, an address this service refuses "
            "(link-local, cloud metadata or on the deny-list)."
        )
    if (policy.allow or policy.allow_hosts) and not (
        host.lower() in policy.allow_hosts or any(address in n for n in policy.allow)
    ):
        raise TargetRefused(f"Host '{host}' is not on this service's allow-list.")


def resolve_host(host: str, port: int) -> str:
    """Resolve `host` now and return the first address the policy allows.

    Every address the name resolves to must pass: a name that also points at a
    forbidden address is refused whole.
    """
    check_hostname(host)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"Host '{host}' could not be resolved.") from exc
    policy = _policy()
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        _check_address(address, host, policy)
        addresses.append(str(address))
    if not addresses:
        raise TargetRefused(f"Host '{host}' could not be resolved.")
    return addresses[0]


def sqlite_path_resolve(database_name: str, *, must_exist: bool = True) -> Path:
    """Return the real path of a SQLite file, refusing anything outside the folder.

    Symlinks are resolved before the check, so a link inside the folder that points
    out of it is refused too; so is the app's own database file.
    """
    root = Path(settings.SQLITE_DATABASES_DIR).resolve()
    name = (database_name or "").strip()
    if not name or "\x00" in name:
        raise TargetRefused("A SQLite file name is required.", field="database_name")
    if name.startswith(("file:", "/")) or "?" in name or "\\" in name:
        raise TargetRefused(
            f"database_name must be a file name inside {root.name}/, "
            "not a path or URI.",
            field="database_name",
        )
    path = (root / name).resolve()
    if root not in path.parents:
        raise TargetRefused(
            f"database_name must stay inside the SQLite folder ({root.name}/).",
            field="database_name",
        )
    if _is_app_database(path):
        raise TargetRefused(
            "database_name points at this service's own database.",
            field="database_name",
        )
    if must_exist and not path.is_file():
        raise TargetRefused(
            f"No SQLite file named '{name}' in the SQLite folder.",
            field="database_name",
        )
    return path


def _is_app_database(path: Path) -> bool:
    app_db = settings.DATABASES["default"]
    if app_db["ENGINE"] != "django.db.backends.sqlite3":
        return False
    app_path = Path(str(app_db["NAME"])).resolve()
    return path == app_path or path.name.startswith(app_path.name + "-")


def check_not_app_database(
    *, db_type: str, host: str, port: int, database_name: str
) -> None:
    """Refuse a server connection that names this service's own database."""
    app_db = settings.DATABASES["default"]
    engines = {"postgresql": "postgresql", "mysql": "mysql"}
    if engines.get(db_type) is None or engines[db_type] not in app_db["ENGINE"]:
        return
    default_port = 5432 if db_type == "postgresql" else 3306
    app_port = int(app_db.get("PORT") or default_port)
    if database_name != app_db.get("NAME") or int(port) != app_port:
        return
    if _same_host(host, str(app_db.get("HOST") or "localhost")):
        raise TargetRefused(
            "This connection points at this service's own database.",
            field="database_name",
        )


def _same_host(a: str, b: str) -> bool:
    def addresses(host: str) -> set[str]:
        try:
            return {i[4][0] for i in socket.getaddrinfo(host, None)}
        except (socket.gaierror, UnicodeError):
            return {host}

    local = {"localhost", "127.0.0.1", "::1", ""}
    if a.lower() in local and b.lower() in local:
        return True
    return bool(addresses(a) & addresses(b))
