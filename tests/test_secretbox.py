"""Encryption at rest of `secret__` variables, with key rotation."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from orchestrator.errors import SecretsUnavailable
from orchestrator.secretbox import SecretBox

VARIABLES = {"customer_name": "Ada", "visits": 3, "secret__token": "tok_live_9f8e7d", "vip": True}


@pytest.fixture
def key_a() -> str:
    return SecretBox.generate_key()


@pytest.fixture
def key_b() -> str:
    return SecretBox.generate_key()


def test_generated_keys_differ(key_a: str, key_b: str) -> None:
    assert key_a != key_b


def test_seal_encrypts_only_secret_values(key_a: str) -> None:
    sealed = SecretBox([key_a]).seal(VARIABLES)
    assert set(sealed) == set(VARIABLES)
    assert sealed["secret__token"] != VARIABLES["secret__token"]
    assert sealed["secret__token"].startswith("enc:v1:")
    assert {k: v for k, v in sealed.items() if k != "secret__token"} == {
        k: v for k, v in VARIABLES.items() if k != "secret__token"
    }
    assert "tok_live_9f8e7d" not in json.dumps(sealed)


def test_sealing_twice_gives_different_ciphertexts(key_a: str) -> None:
    box = SecretBox([key_a])
    assert box.seal(VARIABLES)["secret__token"] != box.seal(VARIABLES)["secret__token"]


def test_a_secret_is_sealed_whatever_it_looks_like(key_a: str) -> None:
    # Sealing goes by the name: a value that looks sealed is a secret like any other.
    box = SecretBox([key_a])
    sealed = box.seal(VARIABLES)
    twice = box.seal(sealed)
    assert twice["secret__token"] != sealed["secret__token"]
    assert box.open(twice) == sealed
    assert box.open(box.open(twice)) == VARIABLES


@pytest.mark.parametrize("value", ["enc:v1:hello", "enc:v1:", "enc:v1:gAAAAABnotatoken=="])
def test_a_plain_value_that_looks_sealed_is_kept_as_given(key_a: str, value: str) -> None:
    variables = {"note": value, "secret__token": "t"}
    box = SecretBox([key_a])
    sealed = box.seal(variables)
    assert sealed["note"] == value
    assert box.open(sealed) == variables
    assert box.reseal({"note": value}) is None
    # Without keys too: a plain variable never needs one.
    assert SecretBox([]).seal({"note": value}) == {"note": value}
    assert SecretBox([]).open({"note": value}) == {"note": value}


@pytest.mark.parametrize("value", ["enc:v1:hello", "enc:v1:", "enc:v1:gAAAAABnotatoken=="])
def test_a_secret_that_looks_sealed_is_encrypted_and_opens_to_itself(
    key_a: str, key_b: str, value: str
) -> None:
    box = SecretBox([key_a])
    sealed = box.seal({"secret__token": value})
    assert sealed["secret__token"].startswith("enc:v1:") and sealed["secret__token"] != value
    assert box.open(sealed) == {"secret__token": value}
    resealed = SecretBox([key_b, key_a]).reseal(sealed)
    assert resealed is not None and SecretBox([key_b]).open(resealed) == {"secret__token": value}


def test_values_stored_before_the_name_rule_still_open(key_a: str) -> None:
    # The stored format is unchanged: `enc:v1:` + a Fernet token of the text, under a secret__ name.
    stored = {"secret__token": "enc:v1:" + Fernet(key_a.encode()).encrypt(b"tok").decode()}
    stored |= {"customer_name": "Ada"}
    assert SecretBox([key_a]).open(stored) == {"secret__token": "tok", "customer_name": "Ada"}


def test_open_round_trips(key_a: str) -> None:
    box = SecretBox([key_a])
    assert box.open(box.seal(VARIABLES)) == VARIABLES


def test_non_string_secrets_come_back_as_text(key_a: str) -> None:
    box = SecretBox([key_a])
    assert box.open(box.seal({"secret__pin": 1234})) == {"secret__pin": "1234"}


def test_rotation_old_ciphertext_opens_with_new_key_first(key_a: str, key_b: str) -> None:
    sealed = SecretBox([key_a]).seal(VARIABLES)
    assert SecretBox([key_b, key_a]).open(sealed) == VARIABLES


def test_rotation_new_ciphertext_uses_the_first_key(key_a: str, key_b: str) -> None:
    sealed = SecretBox([key_b, key_a]).seal(VARIABLES)
    assert SecretBox([key_b]).open(sealed) == VARIABLES
    with pytest.raises(SecretsUnavailable):
        SecretBox([key_a]).open(sealed)


def test_dropping_the_old_key_makes_its_ciphertext_unreadable(key_a: str, key_b: str) -> None:
    sealed = SecretBox([key_a]).seal(VARIABLES)
    with pytest.raises(SecretsUnavailable, match="secret__token"):
        SecretBox([key_b]).open(sealed)


def test_no_keys_sealing_a_secret_raises() -> None:
    with pytest.raises(SecretsUnavailable, match="secret__token"):
        SecretBox([]).seal(VARIABLES)


def test_no_keys_without_secrets_passes_through() -> None:
    plain = {"customer_name": "Ada", "visits": 3}
    box = SecretBox([])
    assert box.seal(plain) == plain
    assert box.open(plain) == plain


def test_no_keys_opening_a_sealed_value_raises(key_a: str) -> None:
    sealed = SecretBox([key_a]).seal(VARIABLES)
    with pytest.raises(SecretsUnavailable):
        SecretBox([]).open(sealed)
