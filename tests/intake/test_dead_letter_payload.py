"""What a dead letter keeps of a refused job payload: enough to see what was sent, never a
`secret__` value in clear, never unbounded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.intake.jobs import safe_payload


def test_an_object_keeps_its_fields_with_secrets_masked_wherever_they_sit() -> None:
    kept = safe_payload(
        {
            "campaign": "c",
            "variables": {"customer_name": "Ada", "secret__pin": "4242"},
            "call": {"variables": {"secret__otp": "991"}},
            "overrides": {"secret__x": "PLANTED"},
            "extra": [{"variables": {"secret__deep": "PLANTED"}}],
        }
    )
    assert kept["variables"] == {"customer_name": "Ada", "secret__pin": "***"}
    assert kept["call"]["variables"] == {"secret__otp": "***"}
    text = json.dumps(kept)
    assert "PLANTED" not in text and "4242" not in text and "991" not in text


@pytest.mark.parametrize(
    "payload",
    [
        '{"variables": {"secret__pin": "PLANTED"}}',  # an object sent JSON-encoded, as text
        "secret__pin=PLANTED",
        ['{"secret__pin": "PLANTED"}'],
    ],
)
def test_text_that_may_hold_a_secret_is_not_kept_in_clear(payload: Any) -> None:
    kept = safe_payload(payload)
    assert "PLANTED" not in json.dumps(kept)
    assert kept["payload_type"] == type(payload).__name__


def test_text_is_kept_truncated_and_storable() -> None:
    kept = safe_payload("x" * 100_000 + "\x00\ud83d")
    assert kept["payload_type"] == "str"
    assert len(kept["payload"]) < 1100 and "truncated" in kept["payload"]
    json.dumps(kept).encode("utf-8")  # storable: no lone surrogate left
    odd = safe_payload("a\x00b\ud83dc")
    odd["payload"].encode("utf-8")
    assert "\x00" not in odd["payload"]


def test_deep_or_long_structures_are_bounded() -> None:
    deep: Any = []
    for _ in range(10_000):
        deep = [deep]
    kept = safe_payload(deep)
    assert len(json.dumps(kept)) < 5000
    wide = safe_payload(list(range(100_000)))
    assert len(json.dumps(wide)) < 5000
    huge = safe_payload({"variables": {f"v{i}": i for i in range(100_000)}})
    assert len(json.dumps(huge)) < 20_000
