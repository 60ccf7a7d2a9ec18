"""Text we can carry safely: valid Unicode without NUL, control characters or noncharacters.

The rule every entrance applies (HTTP bodies, the Redis job, CSV cells and headers), and the
dialer and the read routes apply again to what is already stored. Refused:

- lone surrogates (U+D800–U+DFFF): not Unicode at all. JSON's `"\\ud83d"` escape decodes to one
  and a pickled Python `str` (the arq job) can hold one; no UTF-8 encoder takes it, so a stored
  one breaks every answer, dial and record built from it;
- NUL (U+0000): PostgreSQL refuses it in text and jsonb;
- the other C0 control characters except tab, line feed and carriage return: invisible, never
  meant for a name, a number or a variable, and a way to smuggle text past a reader;
- noncharacters (U+FDD0–U+FDEF and the last two code points of every plane, U+FFFE, U+FFFF...):
  reserved for a program's internal use, never to be interchanged.

`text_problem` is the rule for one string; `text_problems` walks JSON-like data (keys too)
and names each offending field; `shown` and `escaped` write refused characters as visible
escapes (`\\ud83d`), so stored data can always be answered with, and a name always be reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_NONCHARACTERS = "".join(
    chr(plane * 0x10000 + last) for plane in range(17) for last in (0xFFFE, 0xFFFF)
)
_BMP = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
#: Every refused character; the astral noncharacters make it slow (each is a literal to test).
_REFUSED = re.compile(f"[{_BMP}{re.escape(_NONCHARACTERS)}]")
#: The same for text without astral characters (nearly all): ten times faster.
_REFUSED_BMP = re.compile(f"[{_BMP}]")


def _pattern(value: str) -> re.Pattern[str]:
    """The refusing pattern for `value`: the full one only when it has astral characters."""
    return _REFUSED if not value.isascii() and max(value) > "\uffff" else _REFUSED_BMP


def _what(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate (U+{code:04X}) is not valid Unicode"
    if code == 0:
        return "NUL (U+0000) is not allowed"
    if code < 0x20:
        return f"the control character U+{code:04X} is not allowed"
    return f"the Unicode noncharacter U+{code:04X} is not allowed"


def text_problem(value: str) -> str | None:
    """Why `value` cannot be carried, or None when it can."""
    found = _pattern(value).search(value)
    if found is None:
        return None
    return f"invalid text at character {found.start() + 1}: {_what(found.group())}"


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def shown(value: str) -> str:
    """`value` with each refused character written as its escape (`\\ud83d`): safe anywhere."""
    pattern = _pattern(value)
    return pattern.sub(_escape, value) if pattern.search(value) else value


def _join(path: str, key: object) -> str:
    part = shown(key) if isinstance(key, str) else str(key)
    return f"{path}.{part}" if path else part


def holds_refused(value: Any) -> bool:
    """Whether any string in `value` (keys included) breaks the rule: one search over them all.

    Every row of every entrance goes through here, so plain types are told apart before the
    (slower) abstract `Mapping` check.
    """
    texts: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict) or (
            not isinstance(item, list | tuple | int | float) and isinstance(item, Mapping)
        ):
            for key, child in item.items():
                if isinstance(key, str):
                    texts.append(key)
                if isinstance(child, str):
                    texts.append(child)
                elif not (child is None or isinstance(child, int | float)):
                    stack.append(child)
        elif isinstance(item, list | tuple):
            stack.extend(item)
    joined = "".join(texts)
    return _pattern(joined).search(joined) is not None


#: Problems reported at most by `text_problems` (a payload may hold a million bad strings).
MAX_PROBLEMS = 20


def text_problems(value: Any, path: str = "") -> list[tuple[str, str]]:
    """(field, reason) for the strings in `value` that break the rule, keys included.

    Walks dicts, lists and tuples without recursion (a pickled payload can be nested deeper than
    the interpreter's stack); a field is named by its path from `path` (`variables.note`). At
    most `MAX_PROBLEMS` are reported.
    """
    if not holds_refused(value):
        return []  # the usual case, found without naming any field
    problems: list[tuple[str, str]] = []
    # (field, its name when that is text, its value), in the order the fields are written
    stack: list[tuple[str, str | None, Any]] = [(path, None, value)]
    while stack and len(problems) < MAX_PROBLEMS:
        here, name, item = stack.pop()
        reason = text_problem(name) if name is not None else None
        if reason:
            problems.append((here, f"the name has {reason}"))
        if isinstance(item, str):
            reason = text_problem(item)
            if reason:
                problems.append((here or "(value)", reason))
        elif isinstance(item, Mapping):
            stack.extend(
                (_join(here, key), key if isinstance(key, str) else None, child)
                for key, child in reversed(list(item.items()))
            )
        elif isinstance(item, list | tuple):
            stack.extend(
                (_join(here, i), None, child) for i, child in reversed(list(enumerate(item)))
            )
    return problems


#: Nesting kept by `escaped`; deeper parts are replaced by a note (a pickled payload has no bound).
MAX_DEPTH = 64


def escaped(value: Any, depth: int = 0) -> Any:
    """A copy of JSON-like `value` whose strings (keys too) are `shown`: safe to answer with.

    For data stored before the rule existed (or planted behind its back): a read never fails on
    it, and the operator sees where the bad character sits.
    """
    if isinstance(value, str):
        return shown(value)
    if depth >= MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        return f"(nested deeper than {MAX_DEPTH} levels)"
    if isinstance(value, Mapping):
        return {
            (shown(k) if isinstance(k, str) else k): escaped(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [escaped(v, depth + 1) for v in value]
    return value
