"""How CRM notifications are signed: Standard Webhooks, with the campaign's secret.

A receiver verifies with any Standard Webhooks library (`Webhook(secret).verify(body, headers)`):
`webhook-id` (stable per notification, the same on every retry, so the CRM can deduplicate),
`webhook-timestamp` (Unix seconds), `webhook-signature` = `v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`, computed by the `standardwebhooks` package (no second hand-written HMAC).

A campaign names the environment variable holding its secret (`notifications.secret_env`);
secrets never sit in the database. The value is a Standard Webhooks secret: `whsec_` followed by
the base64 of 24 to 64 random bytes. A campaign that notifies a URL without a usable secret is a
problem `signing_problem` names (without the value); what to do about it (refuse to start in
prod, warn elsewhere) is the callers'.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks import Webhook

from orchestrator.domain.campaign_policy import Notifications

PREFIX = "whsec_"
MIN_BYTES = 24
MAX_BYTES = 64
#: How to make a secret (said with every problem about one).
HOW_TO_MAKE = (
    'make one with: python -c "import base64,secrets; '
    "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\""
)


def _secret_bytes(value: str) -> bytes | None:
    """The key of a `whsec_` secret, or None when `value` is not one."""
    if not value.startswith(PREFIX):
        return None
    try:
        key = base64.b64decode(value[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if MIN_BYTES <= len(key) <= MAX_BYTES else None


def signing_problem(notifications: Notifications, env: Mapping[str, str]) -> str | None:
    """Why notifications of this campaign could not be signed (None: they can, or none are sent).

    Args:
        notifications: The campaign's notification settings.
        env: The process environment (where the secret is).
    """
    if not notifications.url:
        return None
    name = notifications.secret_env
    if not name:
        return (
            "no signing secret: set notifications.secret_env to the name of an environment "
            f"variable holding a Standard Webhooks secret ({HOW_TO_MAKE})"
        )
    value = env.get(name, "")
    if not value.strip():
        return f"the environment variable {name} (notifications.secret_env) is not set"
    if _secret_bytes(value.strip()) is None:
        return (
            f"the environment variable {name} (notifications.secret_env) is not a Standard "
            f"Webhooks secret: whsec_ followed by the base64 of {MIN_BYTES} to {MAX_BYTES} "
            f"random bytes ({HOW_TO_MAKE})"
        )
    return None


def signer(notifications: Notifications, env: Mapping[str, str]) -> Webhook | None:
    """The campaign's signer, or None when `signing_problem` names a problem."""
    if signing_problem(notifications, env) is not None or not notifications.secret_env:
        return None
    return Webhook(env[notifications.secret_env].strip())


def signed_headers(hook: Webhook, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one delivery of `body`."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        # As text: older `standardwebhooks` releases sign only str (the body is ASCII JSON).
        "webhook-signature": hook.sign(message_id, moment, body.decode()),
    }
