"""Where a connection may point: hosts, networks, driver options and SQLite files.

Checked when a connection is saved (for a clear 400) and again every time a
physical connection is opened (hostnames are re-resolved, so DNS rebinding
cannot move a saved connection onto a forbidden address).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Driver options a user may set live in each engine backend (`allowed_options`);
# anything else (local_infile, init_command, sslrootcert paths, libpq
# `options`, ...) is refused.


class TargetRefused(Exception):
    """The connection points somewhere this service will not go."""

    def __init__(self, message: str, *, field: str = "host"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class HostPolicy:
    """Allowed and refused networks and host names (empty allow: any host)."""

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


def host_policy(*, allow: list[str], deny: list[str]) -> HostPolicy:
    """Return a policy from allow and deny lists (CIDR networks or host names);
    the same rules serve other outbound hosts (schedules' webhooks)."""
    allow_networks, allow_hosts = _split(allow)
    deny_networks, deny_hosts = _split(deny)
    return HostPolicy(allow_networks, allow_hosts, deny_networks, deny_hosts)


def _policy() -> HostPolicy:
    return host_policy(
        allow=settings.TARGET_HOSTS_ALLOW, deny=settings.TARGET_HOSTS_DENY
    )


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


def check_hostname(host: str, *, policy: HostPolicy | None = None) -> None:
    """Refuse a host named on the deny-list, or missing from a non-empty allow-list.

    A numeric host is decoded the way libc (and so every driver) reads it before
    the policy applies: `2852039166`, `0xa9fea9fe` and `0251.0376.0251.0376` are
    all 169.254.169.254, so they are refused here, when saved, as at connect.
    """
    policy = policy or _policy()
    name = host.strip().lower().rstrip(".")
    if name in policy.deny_hosts:
        raise TargetRefused(f"Host '{host}' is not allowed by this service's policy.")
    address = numeric_address(name)
    if address is None:
        return
    _check_address(address, host, policy)
    if str(address) != name:
        # The drivers would connect to `address`, but a spelling that differs
        # from the canonical one is only ever an attempt to slip past a filter.
        raise TargetRefused(
            f"Host '{host}' is a non-canonical numeric address; write it as {address}."
        )


# Characters of an IPv4 address in any form inet_aton accepts (decimal, octal,
# hex, with 1 to 4 parts). A name with any other character is a host name.
_INET_ATON_CHARS = re.compile(r"^[0-9a-fx.]+$")


def numeric_address(name: str) -> IPAddress | None:
    """Return the address a numeric host stands for, or None for a host name.

    IPv4 goes through libc's own `inet_aton`, the parser getaddrinfo uses, so
    the decoding cannot differ from the drivers'. IPv6 may be bracketed and carry
    a zone (`[fe80::1%eth0]`).
    """
    candidate = name.strip().lower()
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]
    candidate = candidate.split("%", 1)[0]
    if ":" in candidate:
        try:
            return ipaddress.IPv6Address(candidate)
        except ValueError:
            return None
    if not _INET_ATON_CHARS.match(candidate):
        return None
    try:
        packed = socket.inet_aton(candidate)
    except OSError:
        return None
    return ipaddress.IPv4Address(packed)


# IPv6 prefixes that carry an IPv4 address in their last 32 bits and reach it:
# NAT64's well-known prefix and the deprecated IPv4-compatible form.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# "This network": a client connecting to 0.x.x.x reaches the local host.
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or (
        address in _IPV4_COMPATIBLE and int(address) > 1  # not :: or ::1
    ):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _check_address(address: IPAddress, host: str, policy: HostPolicy) -> None:
    address = _embedded_ipv4(address)
    if address.is_unspecified or address in _THIS_NETWORK:
        # `0.0.0.0` and `::` both mean "this host" to a connecting client.
        raise TargetRefused(
            f"Host '{host}' resolves to {address}, an address this service refuses "
            "(unspecified: it means this host)."
        )
    if any(address in network for network in policy.deny):
        raise TargetRefused(
            f"Host '{host}' resolves to {address}, an address this service refuses "
            "(link-local, cloud metadata or on the deny-list)."
        )
    if (policy.allow or policy.allow_hosts) and not (
        host.lower() in policy.allow_hosts or any(address in n for n in policy.allow)
    ):
        raise TargetRefused(f"Host '{host}' is not on this service's allow-list.")


# What resolves a host name to its addresses: the system's resolver, or one a
# caller brings (a test answering differently on its second call).
Resolver = Callable[[str, int], list[str]]


def addresses_of(host: str, port: int) -> list[str]:
    """Return every address `host` resolves to now, by the system's resolver."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def resolve_host(
    host: str,
    port: int,
    *,
    policy: HostPolicy | None = None,
    resolve: Resolver | None = None,
) -> str:
    """Resolve `host` now and return the first address the policy allows.

    Every address the name resolves to must pass: a name that also points at a
    forbidden address is refused whole.
    """
    policy = policy or _policy()
    check_hostname(host, policy=policy)
    try:
        found = (resolve or addresses_of)(host, port)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"Host '{host}' could not be resolved.") from exc
    addresses = []
    for text in found:
        address = ipaddress.ip_address(str(text).split("%")[0])
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
            "Enter only the SQLite file's name (for example shop.sqlite3), not a "
            "path: the server opens SQLite files from its own SQLite folder.",
            field="database_name",
        )
    path = (root / name).resolve()
    if root not in path.parents:
        raise TargetRefused(
            "Enter only the SQLite file's name (for example shop.sqlite3): the "
            "file must be inside the SQLite folder of the server.",
            field="database_name",
        )
    if _is_app_database(path):
        raise TargetRefused(
            "That file is this service's own database; pick another file.",
            field="database_name",
        )
    if must_exist and not path.is_file():
        raise TargetRefused(
            f"There is no SQLite file named '{name}' in the server's SQLite folder. "
            "Pick one of the files offered, or ask the operator to put it there.",
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
    """Refuse a server connection that names this service's own database.

    The backend says whether its engine is the app database's (Django's vendor
    name) and which port an unset one means; an unknown or incomplete backend
    is refused.
    """
    from django.db import connections

    from connections.backends import UnknownDatabaseType, backend_for

    try:
        backend = backend_for(db_type)
        same_engine = backend.django_vendor == connections["default"].vendor
        if backend.is_file or not same_engine:
            return  # a file is checked by its path (sqlite_path_resolve)
        default_port = backend.default_port
    except UnknownDatabaseType as exc:
        raise TargetRefused(str(exc), field="db_type") from None
    app_db = settings.DATABASES["default"]
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
            return {str(i[4][0]) for i in socket.getaddrinfo(host, None)}
        except (socket.gaierror, UnicodeError):
            return {host}

    local = {"localhost", "127.0.0.1", "::1", ""}
    if a.lower() in local and b.lower() in local:
        return True
    return bool(addresses(a) & addresses(b))
