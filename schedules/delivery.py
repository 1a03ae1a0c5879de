"""Delivering a scheduled answer: an email through Django's email backend and a
signed JSON POST to a webhook (Slack-compatible `text`), checked against the
webhook host policy at creation and again before every attempt."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from connections.models import DatabaseConnection, PrivacyTier
from connections.target_policy import TargetRefused, host_policy, resolve_host

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


def webhook_check(url: str) -> None:
    """Refuse a webhook URL that is not http(s) or whose host the policy refuses
    (every address the name resolves to is checked, now)."""
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
        resolve_host(parts.hostname, port, policy=policy)
    except TargetRefused as exc:
        raise WebhookRefused(str(exc)) from exc


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


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead past the host policy: it is a failure instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def webhook_post(*, url: str, secret: str, message: Message) -> None:
    """POST the message, retrying network errors, 429 and 5xx with back-off;
    the host policy is checked before every attempt. Raise DeliveryFailed."""
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
        webhook_check(url)
        # The scheme is checked above (http or https only).
        request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310
        try:
            with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_S) as reply:
                reply.read(1024)
            return
        except urllib.error.HTTPError as exc:
            reason = f"the webhook answered HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                break  # the receiver refuses it: trying again will not help
        except (urllib.error.URLError, OSError) as exc:
            reason = f"the webhook could not be reached ({type(exc).__name__})"
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
