"""Encryption at rest of `secret__` dynamic variables (Fernet, with key rotation).

Keys come from `ORCH_SECRET_KEYS`, newest first: values are sealed with the first and opened
with any. Rotation: prepend a new key, run `orchestrator contacts reseal` (every stored value is
re-encrypted with the new key), then drop the old key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from orchestrator.domain.initiation import is_secret
from orchestrator.errors import OrchestratorError

_MARK = "enc:v1:"


class SecretsUnavailable(OrchestratorError):
    """A secret must be encrypted or decrypted but no (matching) key is configured."""


class SecretBox:
    """Encrypts with the first key; decrypts with any (so keys can rotate)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None

    @staticmethod
    def generate_key() -> str:
        """A new random key, for `ORCH_SECRET_KEYS`."""
        return Fernet.generate_key().decode()

    def seal(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """Encrypt every `secret__` value; other values pass through."""
        sealed: dict[str, Any] = {}
        for name, value in variables.items():
            if is_secret(name) and not (isinstance(value, str) and value.startswith(_MARK)):
                if self._fernet is None:
                    raise SecretsUnavailable(
                        f"{name}: secret__ variables need ORCH_SECRET_KEYS to be stored encrypted"
                    )
                token = self._fernet.encrypt(str(value).encode()).decode()
                sealed[name] = _MARK + token
            else:
                sealed[name] = value
        return sealed

    def open(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """Decrypt every sealed value (only to build a dial request)."""
        opened: dict[str, Any] = {}
        for name, value in variables.items():
            if isinstance(value, str) and value.startswith(_MARK):
                if self._fernet is None:
                    raise SecretsUnavailable(f"{name}: no key configured to decrypt it")
                try:
                    opened[name] = self._fernet.decrypt(value[len(_MARK) :].encode()).decode()
                except InvalidToken as exc:
                    raise SecretsUnavailable(f"{name}: no configured key decrypts it") from exc
            else:
                opened[name] = value
        return opened

    def reseal(self, variables: Mapping[str, Any]) -> dict[str, Any] | None:
        """The same values re-encrypted with the newest key, or None when nothing is sealed.

        Raises:
            SecretsUnavailable: a sealed value that no configured key opens.
        """
        if not any(isinstance(v, str) and v.startswith(_MARK) for v in variables.values()):
            return None
        if self._fernet is None:
            raise SecretsUnavailable("no key configured to re-encrypt secret__ values")
        out: dict[str, Any] = {}
        for name, value in variables.items():
            if isinstance(value, str) and value.startswith(_MARK):
                try:
                    token = self._fernet.rotate(value[len(_MARK) :].encode()).decode()
                except InvalidToken as exc:
                    raise SecretsUnavailable(f"{name}: no configured key decrypts it") from exc
                out[name] = _MARK + token
            else:
                out[name] = value
        return out
