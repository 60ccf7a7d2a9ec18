"""Webhook signatures, both ways: the provider's that we verify, and ours that CRMs verify.

## Inbound: the provider's scheme (ElevenLabs)

HMAC signatures of provider webhooks: `ElevenLabs-Signature: t=<unix>,v0=<hex>`.

hex = HMAC-SHA256(secret, f"{t}.{raw_body}"). Verification is over the raw bytes, compares in
constant time, bounds the clock skew both ways, and raises instead of returning a bool.

## Outbound: CRM notifications (Standard Webhooks)

How CRM notifications are signed: Standard Webhooks, with the campaign's secret.

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
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from standardwebhooks import Webhook

from orchestrator.domain.campaign_policy import Notifications
from orchestrator.errors import SignatureError

HEADER = "ElevenLabs-Signature"


def compute(secret: str, timestamp: int, body: bytes) -> str:
    """The hex digest the provider sends as `v0`."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """A full header value for `body`, as the provider would send it."""
    return f"t={timestamp},v0={compute(secret, timestamp, body)}"


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError as exc:
                raise SignatureError("signature timestamp is not an integer") from exc
        elif key == "v0" and value:
            digests.append(value)
    if timestamp is None or not digests:
        raise SignatureError("signature header needs t=<unix> and v0=<hex>")
    return timestamp, digests


class StreamVerifier:
    """Verify a signature over a body that arrives in chunks (audio events are many MB).

    The header's timestamp is checked on construction, so a stale or future request is refused
    before its body is read; `update` feeds the body; `verify` compares in constant time.
    """

    def __init__(
        self,
        header: str | None,
        secrets: Iterable[str],
        *,
        now: float,
        tolerance_secs: int = 30 * 60,
        future_secs: int = 5 * 60,
    ) -> None:
        if not header:
            raise SignatureError("missing signature header")
        self.timestamp, self._digests = _parse(header)
        if self.timestamp < now - tolerance_secs:
            raise SignatureError("signature timestamp is too old")
        if self.timestamp > now + future_secs:
            raise SignatureError("signature timestamp is in the future")
        prefix = str(self.timestamp).encode() + b"."
        self._macs = [hmac.new(s.encode(), prefix, hashlib.sha256) for s in secrets]

    def update(self, chunk: bytes) -> None:
        """Feed the next piece of the raw body."""
        for mac in self._macs:
            mac.update(chunk)

    def verify(self) -> int:
        """Return the signed timestamp, or raise when no secret matches.

        Raises:
            SignatureError: the body does not match the signature under any secret.
        """
        matched = False
        for mac in self._macs:
            expected = mac.hexdigest()
            for digest in self._digests:
                # Bytes: compare_digest refuses str with non-ASCII characters (TypeError), and a
                # forged header may carry any.
                matched |= hmac.compare_digest(expected.encode(), digest.encode("utf-8", "replace"))
        if not matched:
            raise SignatureError("signature does not match")
        return self.timestamp


def verify(
    header: str | None,
    body: bytes,
    secrets: Iterable[str],
    *,
    now: float,
    tolerance_secs: int = 30 * 60,
    future_secs: int = 5 * 60,
) -> int:
    """Check `header` against `body` with any of `secrets`; return the signed timestamp.

    Raises:
        SignatureError: missing, malformed, stale, from the future, or matching no secret.
    """
    verifier = StreamVerifier(
        header, secrets, now=now, tolerance_secs=tolerance_secs, future_secs=future_secs
    )
    verifier.update(body)
    # Every comparison is evaluated (no early exit that would leak timing).
    return verifier.verify()


# --- outbound: CRM notifications, signed the Standard Webhooks way ---------------------------

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
