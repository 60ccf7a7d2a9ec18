"""Encryption at rest of `secret__` dynamic variables (Fernet, with key rotation).

Keys come from `ORCH_SECRET_KEYS`, newest first: values are sealed with the first and opened
with any. Rotation: prepend a new key, run `orchestrator contacts reseal` (every stored value is
re-encrypted with the new key), then drop the old key.

Whether a value is sealed follows from its variable's name, never from what its text looks like:
every `secret__` value is sealed (stored as `enc:v1:` + a Fernet token), and only `secret__`
values are ever opened. So any value round-trips exactly: a plain variable whose text happens to
begin with `enc:v1:` is stored and read as given, and a secret that does is encrypted like any
other. Stored data keeps its meaning: sealing only ever wrote `enc:v1:` tokens under `secret__`
names, and those open as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from orchestrator.domain.variables import is_secret
from orchestrator.errors import SecretsUnavailable

_MARK = "enc:v1:"


def _sealed(name: str, value: Any) -> bool:
    """Whether `value`, stored under `name`, is a sealed secret."""
    return is_secret(name) and isinstance(value, str) and value.startswith(_MARK)


class SecretBox:
    """Encrypts with the first key; decrypts with any (so keys can rotate)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None

    @staticmethod
    def generate_key() -> str:
        """A new random key, for `ORCH_SECRET_KEYS`."""
        return Fernet.generate_key().decode()

    def seal(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """Encrypt every `secret__` value (given in clear); other values pass through.

        Raises:
            SecretsUnavailable: a `secret__` value but no key configured.
        """
        sealed: dict[str, Any] = {}
        for name, value in variables.items():
            # Whatever the value looks like: one starting `enc:v1:` is a secret like any other.
            if is_secret(name):
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
        """Decrypt every sealed `secret__` value (only to build a dial request).

        Raises:
            SecretsUnavailable: a sealed value that no configured key opens.
        """
        opened: dict[str, Any] = {}
        for name, value in variables.items():
            if _sealed(name, value):
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
        if not any(_sealed(name, value) for name, value in variables.items()):
            return None
        if self._fernet is None:
            raise SecretsUnavailable("no key configured to re-encrypt secret__ values")
        out: dict[str, Any] = {}
        for name, value in variables.items():
            if _sealed(name, value):
                try:
                    token = self._fernet.rotate(value[len(_MARK) :].encode()).decode()
                except InvalidToken as exc:
                    raise SecretsUnavailable(f"{name}: no configured key decrypts it") from exc
                out[name] = _MARK + token
            else:
                out[name] = value
        return out
