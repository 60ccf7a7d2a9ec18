"""What a dead letter keeps of a refused job payload: enough to see what was sent, bounded,
storable, and never a `secret__` value in clear.

A payload may be anything a client enqueued (arq unpickles whatever it was given): an object, a
string, a list, a huge or deeply nested structure, text that is not valid Unicode. What is kept:
- objects with their keys (at most `MAX_ITEMS`), a `secret__` key's value masked wherever it sits;
- lists (at most `MAX_ITEMS` items), nesting down to `MAX_DEPTH`;
- text cut to `MAX_TEXT` characters, lone surrogates and NUL escaped so any database stores it;
  text that is JSON is masked as JSON, and other text that names a `secret__` variable is
  withheld (its value could be anywhere in it);
- numbers JSON carries exactly; anything else by its type's name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from orchestrator.domain.variables import SECRET_PREFIX, is_secret

MAX_TEXT = 1000
MAX_ITEMS = 50
MAX_DEPTH = 8
_MASK = "***"
_SAFE_INTEGER = 2**53 - 1


def kept_payload(payload: Any) -> dict[str, Any]:
    """The refused `payload` as the dead-letter table keeps it (always an object)."""
    if isinstance(payload, Mapping):
        return _object(payload, 0)
    return {"payload_type": type(payload).__name__, "payload": _value(payload, 0)}


def _value(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) <= _SAFE_INTEGER:
            return value
        return f"<integer of {value.bit_length()} bits>"  # str() of a huge one may refuse
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return _text(value, depth)
    if depth >= MAX_DEPTH:
        return "<nested too deep>"
    if isinstance(value, Mapping):
        return _object(value, depth + 1)
    if isinstance(value, list | tuple):
        kept = [_value(item, depth + 1) for item in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            kept.append(f"<{len(value) - MAX_ITEMS} more items>")
        return kept
    return f"<{type(value).__name__}>"


def _object(value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for index, (key, item) in enumerate(value.items()):
        if index >= MAX_ITEMS:
            kept["<more>"] = f"{len(value) - MAX_ITEMS} more keys"
            break
        name = storable(key if isinstance(key, str) else repr(key))[:200]
        kept[name] = _MASK if is_secret(name) else _value(item, depth)
    return kept


def _text(value: str, depth: int) -> str:
    if SECRET_PREFIX in value:
        try:
            parsed = json.loads(value)
        except ValueError:
            return f"<text of {len(value)} characters withheld: it names a secret__ variable>"
        value = json.dumps(_value(parsed, depth), ensure_ascii=False)
    text = storable(value[:MAX_TEXT])
    if len(value) > MAX_TEXT:
        text += f"… ({len(value)} characters, truncated)"
    return text


def storable(text: str) -> str:
    """`text` with what a database refuses (lone surrogates, NUL) written as escapes."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00")
