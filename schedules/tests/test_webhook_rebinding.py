"""A webhook's name is resolved once per attempt, every address checked, and
the POST goes to the address checked: a name re-pointed at the metadata
address after the check (DNS rebinding) reaches nothing, while the receiver
still sees its own name (Host header; TLS certificate checked against it)."""

from __future__ import annotations

import datetime
import re
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from schedules.delivery import DeliveryFailed, Message, WebhookRefused, webhook_post
from testsupport.receivers import WebhookReceiver

METADATA = "169.254.169.254"
MESSAGE = Message(
    delivery_id="1:2026-12-07T09:00",
    question="Revenue last week?",
    answer="4,200.",
    sql="SELECT 1",
    columns=[],
    rows=[],
    row_count=1,
    rows_withheld=False,
    turn_url="http://sqlagent.example/history/x/",
)


class Rebinding:
    """A resolver answering `answers` in turn (the last one from then on)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_a_name_rebound_to_metadata_after_the_check_is_posted_where_it_was_checked(
    webhook_receiver,
):
    # `.test` names resolve nowhere: the POST can only arrive if the client
    # connected to the checked address instead of resolving the name again.
    resolve = Rebinding(["127.0.0.1"], [METADATA])
    url = f"http://hook.test:{webhook_receiver.port}/hook"

    webhook_post(url=url, secret="s", message=MESSAGE, resolve=resolve)

    assert resolve.asked == ["hook.test"]  # once: no second resolution
    [post] = webhook_receiver.posts
    assert post["headers"]["host"] == f"hook.test:{webhook_receiver.port}"
    assert post["json"]["answer"] == "4,200."


def test_each_attempt_checks_the_address_again_and_a_rebound_name_is_refused(
    webhook_receiver, settings
):
    settings.WEBHOOK_RETRIES = 2
    settings.WEBHOOK_RETRY_DELAY_S = 0
    webhook_receiver.statuses = [503]
    resolve = Rebinding(["127.0.0.1"], [METADATA])
    url = f"http://hook.test:{webhook_receiver.port}/hook"

    with pytest.raises(WebhookRefused, match=re.escape(METADATA)):
        webhook_post(url=url, secret="s", message=MESSAGE, resolve=resolve)

    assert resolve.asked == ["hook.test", "hook.test"]
    assert len(webhook_receiver.posts) == 1  # the retry never left


def test_a_name_with_one_refused_address_among_others_is_refused_whole(
    webhook_receiver,
):
    resolve = Rebinding(["127.0.0.1", METADATA])
    url = f"http://hook.test:{webhook_receiver.port}/hook"

    with pytest.raises(WebhookRefused, match="refuses"):
        webhook_post(url=url, secret="s", message=MESSAGE, resolve=resolve)

    assert webhook_receiver.posts == []


def test_an_ipv6_address_is_connected_to_as_checked():
    receiver = WebhookReceiver(ipv6=True)
    try:
        resolve = Rebinding(["::1"], ["fe80::1"])
        webhook_post(
            url=f"http://hook.test:{receiver.port}/hook",
            secret="s",
            message=MESSAGE,
            resolve=resolve,
        )
    finally:
        receiver.close()

    [post] = receiver.posts
    assert post["headers"]["host"] == f"hook.test:{receiver.port}"
    assert resolve.asked == ["hook.test"]


def _certificates(tmp_path: Path, name: str) -> tuple[Path, ssl.SSLContext]:
    """Return a CA file and a server context with a certificate for `name`."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = tmp_path / "server.pem"
    chain.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + leaf.public_bytes(serialization.Encoding.PEM)
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(chain)
    return ca_file, server


def test_over_https_the_certificate_is_checked_against_the_name_not_the_address(
    tmp_path, monkeypatch: Any, settings
):
    settings.WEBHOOK_RETRIES = 0
    ca_file, server_tls = _certificates(tmp_path, "hook.test")
    # The system trust store, with the test's CA as its only authority.
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    receiver = WebhookReceiver(tls=server_tls)
    try:
        loopback = Rebinding(["127.0.0.1"])
        webhook_post(
            url=f"https://hook.test:{receiver.port}/hook",
            secret="s",
            message=MESSAGE,
            resolve=loopback,
        )
        # The same address under a name the certificate is not for: refused
        # by TLS, so the check is against the name (SNI), never the address.
        with pytest.raises(DeliveryFailed, match="could not be reached"):
            webhook_post(
                url=f"https://other.test:{receiver.port}/hook",
                secret="s",
                message=MESSAGE,
                resolve=Rebinding(["127.0.0.1"]),
            )
    finally:
        receiver.close()

    [post] = receiver.posts
    assert post["headers"]["host"] == f"hook.test:{receiver.port}"
