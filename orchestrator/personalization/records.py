"""How a precomputed answer is kept in Redis, and turned back into the bytes we answer.

A record is one tag byte and a JSON document, the answer exactly as the provider receives it:

- `J` + the answer's JSON: no `secret__` values, served as stored (GET, then return the bytes).
- `S` + the answer's JSON with each `secret__` value sealed by the `SecretBox`: served after
  opening them (a Fernet decrypt per secret) and serializing again.

Secret values are sent to the provider (they reach tool headers, never the LLM), so the answer
must carry them; they are never kept in clear in Redis, and never logged.
"""

from __future__ import annotations

from typing import Any

import orjson

from orchestrator.domain.variables import is_secret
from orchestrator.secretbox import SecretBox

PLAIN = b"J"
SEALED = b"S"


def encode(answer: dict[str, Any], box: SecretBox) -> bytes:
    """The record of `answer` (secret values sealed with the newest key).

    Raises:
        SecretsUnavailable: the answer holds a secret but no key is configured.
    """
    variables: dict[str, Any] = answer.get("dynamic_variables") or {}
    if not any(is_secret(name) for name in variables):
        return PLAIN + orjson.dumps(answer)
    return SEALED + orjson.dumps({**answer, "dynamic_variables": box.seal(variables)})


def decode(record: bytes, box: SecretBox) -> bytes:
    """The JSON bytes to answer with.

    Raises:
        SecretsUnavailable: a sealed value no configured key opens.
        ValueError: the record is not one we wrote.
    """
    tag, body = record[:1], record[1:]
    if tag == PLAIN:
        return body
    if tag == SEALED:
        answer = orjson.loads(body)
        answer["dynamic_variables"] = box.open(answer.get("dynamic_variables") or {})
        return orjson.dumps(answer)
    raise ValueError("not a personalization record")
