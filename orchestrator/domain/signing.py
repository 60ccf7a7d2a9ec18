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
