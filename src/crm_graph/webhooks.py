"""Signing and verifying crm-graph webhooks (the Standard Webhooks scheme).

A receiver checks every request with :func:`verify`, using the ``whsec_...`` secret shown once
by ``createWebhook``::

    from crm_graph.webhooks import WebhookVerificationError, verify

    try:
        message = verify(secret, request_body_bytes, request_headers)
    except WebhookVerificationError:
        return 400
    # de-duplicate on message["id"]; drop an update whose message["data"]["entity"]["version"]
    # is older than the one already applied

Headers: ``webhook-id`` (the event id), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``. Timestamps more than five
minutes away from the receiver's clock are refused, which stops replays of captured requests.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

__all__ = ["WebhookVerificationError", "new_secret", "sign", "verify"]

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header value for one request."""
    return Webhook(secret).sign(message_id, datetime.fromtimestamp(timestamp, UTC), body)


def verify(secret: str, body: bytes | str, headers: Mapping[str, str]) -> Any:
    """The decoded JSON body if the signature and timestamp check out.

    Raises :class:`WebhookVerificationError` when a header is missing, the timestamp is more
    than 5 minutes off, or no signature matches.
    """
    return Webhook(secret).verify(body, dict(headers))
