"""HMAC signatures of provider webhooks: `ElevenLabs-Signature: t=<unix>,v0=<hex>`.

hex = HMAC-SHA256(secret, f"{t}.{raw_body}"). Verification is over the raw bytes, compares in
constant time, bounds the clock skew both ways, and raises instead of returning a bool.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

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
    if not header:
        raise SignatureError("missing signature header")
    timestamp, digests = _parse(header)
    if timestamp < now - tolerance_secs:
        raise SignatureError("signature timestamp is too old")
    if timestamp > now + future_secs:
        raise SignatureError("signature timestamp is in the future")
    matched = False
    for secret in secrets:
        expected = compute(secret, timestamp, body)
        for digest in digests:
            # Evaluate every comparison: no early exit that would leak timing.
            matched |= hmac.compare_digest(expected, digest)
    if not matched:
        raise SignatureError("signature does not match")
    return timestamp
