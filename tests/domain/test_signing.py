"""Webhook signatures: round trip, every refusal, secret rotation, several v0 values."""

from __future__ import annotations

import pytest

from orchestrator.domain import signing
from orchestrator.errors import SignatureError

SECRET = "whsec_primary"
BODY = b'{"type":"post_call_transcription","data":{"conversation_id":"conv_1"}}'
NOW = 1_700_000_000


def test_sign_then_verify_returns_the_signed_timestamp() -> None:
    header = signing.sign(SECRET, NOW, BODY)
    assert header.startswith(f"t={NOW},v0=")
    assert signing.verify(header, BODY, [SECRET], now=NOW) == NOW


def test_compute_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signing.compute(SECRET, NOW, BODY) == expected


def test_wrong_secret_is_refused() -> None:
    header = signing.sign("someone-else", NOW, BODY)
    with pytest.raises(SignatureError, match="does not match"):
        signing.verify(header, BODY, [SECRET], now=NOW)


def test_tampered_body_is_refused() -> None:
    header = signing.sign(SECRET, NOW, BODY)
    with pytest.raises(SignatureError, match="does not match"):
        signing.verify(header, BODY.replace(b"conv_1", b"conv_2"), [SECRET], now=NOW)


def test_tampered_timestamp_is_refused() -> None:
    digest = signing.compute(SECRET, NOW, BODY)
    with pytest.raises(SignatureError, match="does not match"):
        signing.verify(f"t={NOW + 1},v0={digest}", BODY, [SECRET], now=NOW)


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header_is_refused(header: str | None) -> None:
    with pytest.raises(SignatureError, match="missing"):
        signing.verify(header, BODY, [SECRET], now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"t={NOW}",
        "v0=abcdef",
        f"t={NOW},v0=",
        "t=yesterday,v0=abcdef",
        f"t=,v0={'0' * 64}",
        f"ts={NOW},v1=abcdef",
    ],
)
def test_malformed_header_is_refused(header: str) -> None:
    with pytest.raises(SignatureError):
        signing.verify(header, BODY, [SECRET], now=NOW)


def test_stale_timestamp_is_refused_even_with_a_valid_digest() -> None:
    old = NOW - 30 * 60 - 1
    with pytest.raises(SignatureError, match="too old"):
        signing.verify(signing.sign(SECRET, old, BODY), BODY, [SECRET], now=NOW)


def test_timestamp_at_the_tolerance_edge_is_accepted() -> None:
    edge = NOW - 30 * 60
    assert signing.verify(signing.sign(SECRET, edge, BODY), BODY, [SECRET], now=NOW) == edge


def test_custom_tolerance_is_honoured() -> None:
    header = signing.sign(SECRET, NOW - 11, BODY)
    with pytest.raises(SignatureError, match="too old"):
        signing.verify(header, BODY, [SECRET], now=NOW, tolerance_secs=10)


def test_future_timestamp_beyond_the_bound_is_refused() -> None:
    future = NOW + 5 * 60 + 1
    with pytest.raises(SignatureError, match="future"):
        signing.verify(signing.sign(SECRET, future, BODY), BODY, [SECRET], now=NOW)


def test_small_future_skew_is_accepted() -> None:
    ahead = NOW + 30
    assert signing.verify(signing.sign(SECRET, ahead, BODY), BODY, [SECRET], now=NOW) == ahead


def test_any_of_several_secrets_is_accepted_during_rotation() -> None:
    secrets = ["whsec_new", "whsec_old"]
    for secret in secrets:
        header = signing.sign(secret, NOW, BODY)
        assert signing.verify(header, BODY, secrets, now=NOW) == NOW


def test_no_secrets_configured_refuses_everything() -> None:
    with pytest.raises(SignatureError):
        signing.verify(signing.sign(SECRET, NOW, BODY), BODY, [], now=NOW)


def test_one_matching_v0_among_several_is_enough() -> None:
    good = signing.compute(SECRET, NOW, BODY)
    header = f"t={NOW},v0={'0' * 64},v0={good},v0=deadbeef"
    assert signing.verify(header, BODY, [SECRET], now=NOW) == NOW


def test_several_v0_values_none_matching_are_refused() -> None:
    header = f"t={NOW},v0={'0' * 64},v0={'f' * 64}"
    with pytest.raises(SignatureError, match="does not match"):
        signing.verify(header, BODY, [SECRET], now=NOW)


def test_whitespace_around_parts_is_tolerated() -> None:
    digest = signing.compute(SECRET, NOW, BODY)
    assert signing.verify(f" t={NOW} , v0={digest} ", BODY, [SECRET], now=NOW) == NOW
