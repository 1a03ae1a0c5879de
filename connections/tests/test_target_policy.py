"""Where connections may point: hosts and networks, driver options, SQLite files.

Hostnames are resolved for real (no mocked DNS): `localhost` resolves to the
loopback addresses, which the tests put on the deny-list.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from connections import target_policy
from connections.models import DatabaseConnection, UserSession
from testsupport.fixtures import SQLITE_FILE, TARGET_DB, connection_fields

pytestmark = pytest.mark.django_db

SERVER_ENGINES = ("postgresql", "mysql")
LOOPBACK = ["127.0.0.0/8", "::1/128"]


def _add(client: Any, db_type: str, **overrides: Any) -> Any:
    fields = connection_fields(db_type)
    body = {**fields, "db_password": fields.pop("password", ""), **overrides}
    return client.post("/databases/add_db_connection", body, format="json")


def _connect(client: Any, connection_id: int) -> Any:
    return client.post(f"/databases/connect_db/{connection_id}")


# How the server saw the connection: PostgreSQL's address of the server end
# (NULL over a Unix socket), MariaDB's client host ("host:port" over TCP).
_PEER_SQL = {
    "postgresql": "SELECT host(inet_server_addr()), (SELECT engine FROM db_marker)",
    "mysql": "SELECT host, (SELECT engine FROM db_marker) "
    "FROM information_schema.processlist WHERE id = CONNECTION_ID()",
}


def _peer(user: Any, db_type: str) -> tuple[str | None, str]:
    """Return where the user's connected engine reached the server, and its marker."""
    from sqlalchemy import text

    from agent.engines import engine_cache

    session = UserSession.objects.get(user=user)
    with engine_cache.get(session).engine.connect() as conn:
        peer, marker = conn.execute(text(_PEER_SQL[db_type])).one()
    return peer, marker


# -- hosts and networks: at save time -----------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "169.254.1.1",
        "fd00:ec2::254",
        "::ffff:169.254.169.254",
        "fe80::1",
        "0.0.0.0",  # noqa: S104 - a host to refuse, not one to bind
    ],
)
@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_link_local_and_metadata_addresses_are_refused_by_default(
    alice_client, db_type, host
):
    response = _add(alice_client, db_type, host=host)

    assert response.status_code == 400
    assert "refuses" in response.json()["host"][0]
    assert not DatabaseConnection.objects.exists()


# Spellings libc's inet_aton (and so libpq and libmysqlclient) reads as a
# metadata, loopback or "this host" address.
NUMERIC_METADATA = [
    "2852039166",
    "0xa9fea9fe",
    "0XA9FEA9FE",
    "0251.0376.0251.0376",
    "169.254.43518",
    "[::ffff:169.254.169.254]",
    "::ffff:a9fe:a9fe",
    "64:ff9b::a9fe:a9fe",
]
# Hosts to refuse, not addresses to bind.
UNSPECIFIED = ["::", "[::]", "0", "0.0.0.0", "0x0", "::ffff:0.0.0.0", "0.1.2.3"]  # noqa: S104


@pytest.mark.parametrize("host", NUMERIC_METADATA + UNSPECIFIED)
@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_numeric_spellings_of_refused_addresses_are_refused_at_save(
    alice_client, db_type, host
):
    response = _add(alice_client, db_type, host=host)

    assert response.status_code == 400
    assert "refuses" in response.json()["host"][0]
    assert not DatabaseConnection.objects.exists()


@pytest.mark.parametrize("host", NUMERIC_METADATA)
def test_numeric_spellings_of_the_metadata_address_name_it_when_refused(host):
    with pytest.raises(target_policy.TargetRefused, match=r"169\.254\.169\.254"):
        target_policy.resolve_host(host, 5432)


@pytest.mark.parametrize("host", UNSPECIFIED)
def test_unspecified_addresses_are_refused_at_connect_even_off_the_deny_list(
    host, settings
):
    settings.TARGET_HOSTS_DENY = []

    with pytest.raises(target_policy.TargetRefused, match="unspecified"):
        target_policy.resolve_host(host, 5432)


@pytest.mark.parametrize(
    ("host", "canonical"),
    [
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("127.0.0.010", "127.0.0.8"),
        ("[::1]", "::1"),
        ("0:0:0:0:0:0:0:1", "::1"),
    ],
)
def test_a_non_canonical_numeric_host_is_refused_with_its_canonical_form(
    alice_client, host, canonical
):
    response = _add(alice_client, "postgresql", host=host)

    assert response.status_code == 400
    message = response.json()["host"][0]
    assert "non-canonical" in message
    assert f"write it as {canonical}." in message


@pytest.mark.parametrize("host", ["127.1", "0x7f.1"])
def test_a_short_loopback_form_is_refused_at_connect_like_at_save(host):
    with pytest.raises(target_policy.TargetRefused, match="non-canonical"):
        target_policy.resolve_host(host, 5432)


@pytest.mark.parametrize("host", ["127.1", "0x7f.1", "2130706433"])
def test_numeric_loopback_forms_are_refused_when_loopback_is_denied(
    alice_client, settings, host
):
    settings.TARGET_HOSTS_DENY = [*settings.TARGET_HOSTS_DENY, *LOOPBACK]

    response = _add(alice_client, "mysql", host=host)

    assert response.status_code == 400
    assert "resolves to 127.0.0.1" in response.json()["host"][0]


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("2852039166", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("0x7f.1", "127.0.0.1"),
        ("[fe80::1%eth0]", "fe80::1"),
        ("db.example.com", None),
        ("cafe", None),
        ("08", None),
        ("1e1", None),
    ],
)
def test_numeric_hosts_decode_as_libc_reads_them(name, address):
    decoded = target_policy.numeric_address(name)

    assert (str(decoded) if decoded is not None else None) == address


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_a_canonical_loopback_address_is_still_saved(alice_client, db_type):
    response = _add(alice_client, db_type, host="127.0.0.1")

    assert response.status_code == 201


def test_a_host_name_on_the_deny_list_is_refused_at_save(alice_client, settings):
    settings.TARGET_HOSTS_DENY = [*settings.TARGET_HOSTS_DENY, "db.internal"]

    response = _add(alice_client, "postgresql", host="DB.internal.")

    assert response.status_code == 400
    assert "not allowed" in response.json()["host"][0]


def test_an_address_off_the_allow_list_is_refused_at_save(alice_client, settings):
    settings.TARGET_HOSTS_ALLOW = ["10.0.0.0/8"]

    response = _add(alice_client, "mysql", host="127.0.0.1")

    assert response.status_code == 400
    assert "allow-list" in response.json()["host"][0]


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_an_address_on_the_allow_list_connects(
    alice_client, alice, shop, settings, db_type
):
    settings.TARGET_HOSTS_ALLOW = ["127.0.0.0/8"]
    connection_id = _add(alice_client, db_type).json()["db_connection"]["id"]

    response = _connect(alice_client, connection_id)

    assert response.status_code == 200
    assert _peer(alice, db_type)[1] == db_type


# -- hosts: resolved and checked again at connect time -------------------------------


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_a_saved_host_name_connects_through_the_address_it_resolves_to(
    alice_client, alice, shop, db_type
):
    connection_id = _add(alice_client, db_type, host="localhost").json()[
        "db_connection"
    ]["id"]

    response = _connect(alice_client, connection_id)

    assert response.status_code == 200
    peer, marker = _peer(alice, db_type)
    assert marker == db_type
    # Over TCP to the resolved loopback address, not the Unix socket that
    # libpq and libmysqlclient pick for the name `localhost`.
    assert peer is not None
    assert peer.split(":")[0] in {"127.0.0.1", "::1", "localhost"}
    assert db_type == "postgresql" or ":" in peer


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_a_host_name_resolving_to_a_denied_address_is_refused_at_connect(
    alice_client, alice, shop, settings, db_type
):
    settings.TARGET_HOSTS_DENY = [*settings.TARGET_HOSTS_DENY, *LOOPBACK]
    # Names are not resolved when saved: only the connect can see the address.
    saved = _add(alice_client, db_type, host="localhost")
    assert saved.status_code == 201
    connection_id = saved.json()["db_connection"]["id"]

    connected = _connect(alice_client, connection_id)
    tested = alice_client.post(f"/databases/{connection_id}/test")

    assert connected.status_code == 502
    assert "'localhost' resolves to 127.0.0.1" in connected.json()["detail"]
    assert "refuses" in connected.json()["detail"]
    assert tested.json() == {"ok": False, "error": connected.json()["detail"]}
    assert UserSession.objects.get(user=alice).db_connection is None


@pytest.mark.parametrize("db_type", SERVER_ENGINES)
def test_a_policy_tightened_after_saving_applies_at_the_next_connect(
    alice_client, alice, make_connection, settings, db_type
):
    connection = make_connection(alice, db_type)
    settings.TARGET_HOSTS_DENY = [*settings.TARGET_HOSTS_DENY, *LOOPBACK]

    response = _connect(alice_client, connection.id)

    assert response.status_code == 502
    assert "127.0.0.1" in response.json()["detail"]


def test_a_host_name_off_the_allow_list_is_refused_at_connect(
    alice_client, make_connection, alice, settings
):
    connection = make_connection(alice, "postgresql", host="localhost")
    settings.TARGET_HOSTS_ALLOW = ["10.0.0.0/8"]

    response = _connect(alice_client, connection.id)

    assert response.status_code == 502
    assert "allow-list" in response.json()["detail"]


def test_an_unresolvable_host_name_is_a_clear_502(alice_client, alice, make_connection):
    connection = make_connection(alice, "mysql", host="no-such-host.invalid")

    response = _connect(alice_client, connection.id)

    assert response.status_code == 502
    assert "could not be resolved" in response.json()["detail"]


# -- parameters stay separate arguments ---------------------------------------------


@pytest.mark.parametrize(
    ("db_type", "overrides", "reason"),
    [
        ("postgresql", {"username": "u host=10.0.0.1"}, "Authentication failed"),
        ("mysql", {"username": "u host=10.0.0.1"}, "Authentication failed"),
        (
            "postgresql",
            {"database_name": f"{TARGET_DB}?host=10.0.0.1"},
            "Unknown database",
        ),
        ("mysql", {"database_name": f"{TARGET_DB}?host=10.0.0.1"}, "Unknown database"),
        # libpq would expand a database name holding a connection string or URI;
        # here it must stay a name (else it would log in as `postgres`).
        (
            "postgresql",
            {"database_name": f"dbname={TARGET_DB} user=postgres"},
            "Unknown database",
        ),
        (
            "postgresql",
            {"database_name": f"postgresql://postgres@127.0.0.1:5432/{TARGET_DB}"},
            "Unknown database",
        ),
    ],
)
def test_hostile_usernames_and_database_names_stay_inert(
    alice_client, alice, make_connection, settings, db_type, overrides, reason
):
    # A connect that went to 10.0.0.1 would time out instead of failing fast.
    settings.TARGET_CONNECT_TIMEOUT_S = 2
    connection = make_connection(alice, db_type, **overrides)

    response = _connect(alice_client, connection.id)

    assert response.status_code == 502
    assert reason in response.json()["detail"]
    assert "127.0.0.1" in response.json()["detail"]


# -- driver options ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("db_type", "options"),
    [
        ("mysql", {"local_infile": "1"}),
        ("mysql", {"init_command": "SET GLOBAL general_log=1"}),
        ("mysql", {"read_default_file": "/etc/mysql/my.cnf"}),
        ("postgresql", {"options": "-c default_transaction_read_only=off"}),
        ("postgresql", {"sslrootcert": "/etc/passwd"}),
        ("postgresql", {"sslmode": "bogus"}),
        ("postgresql", ["sslmode"]),
        ("sqlite", {"timeout": "1"}),
    ],
)
def test_driver_options_off_the_allow_list_are_refused(
    alice_client, shop, db_type, options
):
    response = _add(alice_client, db_type, options=options)

    assert response.status_code == 400
    assert "options" in response.json()


def test_options_smuggled_into_the_row_are_refused_at_connect(
    alice_client, alice, make_connection
):
    connection = make_connection(alice, "mysql")
    DatabaseConnection.objects.filter(pk=connection.pk).update(
        options={"local_infile": "1"}
    )

    response = _connect(alice_client, connection.id)

    assert response.status_code == 502
    assert "local_infile" in response.json()["detail"]


# -- SQLite files -------------------------------------------------------------------


def test_a_sqlite_symlink_pointing_out_after_saving_is_refused_at_connect(
    alice_client, alice, make_connection, shop, tmp_path
):
    folder = shop["sqlite_dir"]
    late = folder / "late.sqlite3"
    shutil.copy(folder / SQLITE_FILE, late)
    connection = make_connection(alice, "sqlite", database_name=late.name)
    outside = tmp_path / "secret.sqlite3"
    shutil.copy(folder / SQLITE_FILE, outside)
    late.unlink()
    late.symlink_to(outside)
    try:
        response = _connect(alice_client, connection.id)
    finally:
        late.unlink()

    assert response.status_code == 502
    assert "inside the SQLite folder" in response.json()["detail"]


def test_a_sqlite_symlink_staying_inside_the_folder_is_allowed(alice_client, shop):
    link = shop["sqlite_dir"] / "alias.sqlite3"
    link.symlink_to(shop["sqlite_dir"] / SQLITE_FILE)
    try:
        saved = _add(alice_client, "sqlite", database_name=link.name)
        response = _connect(alice_client, saved.json()["db_connection"]["id"])
    finally:
        link.unlink()

    assert response.status_code == 200


def test_sqlite_paths_are_checked_against_the_folder_setting_of_the_moment(
    shop, settings, tmp_path
):
    settings.SQLITE_DATABASES_DIR = tmp_path

    with pytest.raises(target_policy.TargetRefused) as refused:
        target_policy.sqlite_path_resolve(SQLITE_FILE)

    assert refused.value.field == "database_name"
