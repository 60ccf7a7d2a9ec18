"""Encryption at rest of `secret__` variables, with key rotation."""

from __future__ import annotations

import json

import pytest

from orchestrator.secretbox import SecretBox, SecretsUnavailable

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


def test_sealing_a_sealed_dict_does_not_encrypt_again(key_a: str) -> None:
    box = SecretBox([key_a])
    sealed = box.seal(VARIABLES)
    assert box.seal(sealed) == sealed
    assert box.open(box.seal(sealed)) == VARIABLES


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
