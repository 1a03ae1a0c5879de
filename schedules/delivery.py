"""Delivering a scheduled answer: an email through Django's email backend and a
signed JSON POST to a webhook (Slack-compatible `text`), checked against the
webhook host policy at creation and again before every attempt.

Each attempt resolves the webhook's name once, checks every address it gets,
and connects to the address it checked: the HTTP client never resolves the
name again, so a name re-pointed at a metadata address between the check and
the connect (DNS rebinding) reaches nothing new. The request still names the
host (`Host` header) and TLS checks the certificate against the name (SNI).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from connections.models import DatabaseConnection, PrivacyTier
from connections.target_policy import (
    Resolver,
    TargetRefused,
    host_policy,
    resolve_host,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-SQLAgent-Signature"
DELIVERY_HEADER = "X-SQLAgent-Delivery"


class DeliveryFailed(Exception):
    """A channel could not deliver; the message says why (no secrets)."""


class WebhookRefused(DeliveryFailed):
    """The webhook's URL points where this service will not post."""


@dataclass(frozen=True)
class Message:
    """What one run delivers, the same for every channel."""

    delivery_id: str
    question: str
    answer: str
    sql: str
    columns: list[str]
    rows: list[list[Any]]
    row_count: int | None
    rows_withheld: bool
    turn_url: str
    failed: bool = False
    # The turn's chart as PNG (emails only), when rows may leave.
    chart_png: bytes | None = None


def rows_may_leave(connection: DatabaseConnection) -> bool:
    """Whether stored values may go out in a delivery: only on the rows tier,
    and masked columns only when they are tokens for the user too."""
    return connection.privacy == PrivacyTier.ROWS and (
        not connection.masked_columns or connection.masked_hidden
    )


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook URL and the one address its host was checked at."""

    url: str
    address: str


def webhook_check(url: str, *, resolve: Resolver | None = None) -> WebhookTarget:
    """Refuse a webhook URL that is not http(s) or whose host the policy refuses
    (every address the name resolves to is checked, now); return the checked
    address to connect to."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise WebhookRefused("The webhook URL must be an http:// or https:// URL.")
    if parts.username or parts.password:
        raise WebhookRefused("The webhook URL must not carry a user or password.")
    policy = host_policy(
        allow=settings.WEBHOOK_HOSTS_ALLOW, deny=settings.WEBHOOK_HOSTS_DENY
    )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = resolve_host(parts.hostname, port, policy=policy, resolve=resolve)
    except TargetRefused as exc:
        raise WebhookRefused(str(exc)) from exc
    return WebhookTarget(url=url, address=address)


def webhook_body(message: Message) -> dict[str, Any]:
    """Return the JSON a webhook receives; `text` is what Slack, Teams and
    Mattermost incoming webhooks show."""
    lines = [f"*{message.question}*", message.answer]
    if message.sql:
        lines.append(f"```{message.sql}```")
    if message.rows_withheld:
        lines.append("(Rows are not sent for this connection: open the link.)")
    lines.append(message.turn_url)
    return {
        "text": "\n".join(line for line in lines if line),
        "delivery_id": message.delivery_id,
        "question": message.question,
        "answer": message.answer,
        "sql": message.sql,
        "columns": message.columns,
        "rows": message.rows,
        "row_count": message.row_count,
        "rows_withheld": message.rows_withheld,
        "failed": message.failed,
        "turn_url": message.turn_url,
    }


def signature(secret: str, body: bytes) -> str:
    """Return the signature header's value: sha256=<hex HMAC of the body>."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _pinned_post(target: WebhookTarget, *, body: bytes, headers: dict[str, str]) -> int:
    """POST to the target's checked address, naming its host; return the status.

    The URL's host is replaced by the address (so nothing resolves it again);
    `Host` and TLS's SNI and certificate check keep the name. No redirect is
    followed (it could lead past the host policy), no proxy from the
    environment either (it would resolve the name itself).
    """
    url = httpx.URL(target.url)
    host = url.raw_host.decode("ascii")
    pinned = url.copy_with(host=target.address)  # an IPv6 one is bracketed
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    with (
        httpx.Client(
            # The system's trust store, as any client on the host would use.
            verify=ssl.create_default_context(),
            trust_env=False,
            follow_redirects=False,
            timeout=settings.WEBHOOK_TIMEOUT_S,
        ) as client,
        client.stream(
            "POST",
            pinned,
            content=body,
            headers={**headers, "Host": url.netloc.decode("ascii")},
            extensions=extensions,
        ) as reply,
    ):
        return reply.status_code


def webhook_post(
    *, url: str, secret: str, message: Message, resolve: Resolver | None = None
) -> None:
    """POST the message, retrying network errors, 429 and 5xx with back-off;
    the host policy is checked before every attempt, at the address the attempt
    connects to. Raise DeliveryFailed (WebhookRefused for the policy)."""
    body = json.dumps(webhook_body(message), default=str).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "SQLAgent-Webhook/1",
        SIGNATURE_HEADER: signature(secret, body),
        DELIVERY_HEADER: message.delivery_id,
    }
    delay = settings.WEBHOOK_RETRY_DELAY_S
    reason = ""
    for attempt in range(settings.WEBHOOK_RETRIES + 1):
        target = webhook_check(url, resolve=resolve)
        try:
            status = _pinned_post(target, body=body, headers=headers)
        except (httpx.HTTPError, OSError) as exc:
            reason = f"the webhook could not be reached ({type(exc).__name__})"
        else:
            if 200 <= status < 300:
                return
            reason = f"the webhook answered HTTP {status}"
            if status != 429 and status < 500:
                break  # the receiver refuses it: trying again will not help
        logger.warning("webhook attempt %d failed: %s", attempt + 1, reason)
        if attempt < settings.WEBHOOK_RETRIES:
            time.sleep(delay)
            delay *= 2
    raise DeliveryFailed(reason[:300])


def email_send(*, to: str, subject: str, message: Message) -> None:
    """Send the message as a text and HTML email; raise DeliveryFailed."""
    context = {"message": message}
    text = render_to_string("schedules/email.txt", context)
    html = render_to_string("schedules/email.html", context)
    email = EmailMultiAlternatives(subject=subject, body=text, to=[to])
    email.attach_alternative(html, "text/html")
    if message.chart_png:
        email.attach("chart.png", message.chart_png, "image/png")
    try:
        email.send()
    except Exception as exc:  # smtplib, socket and TLS errors alike
        raise DeliveryFailed(
            f"the email could not be sent ({type(exc).__name__})"
        ) from exc
