"""Why JSON text someone sent (a request body, a config file) cannot be read, in our words.

The parser's own words are "Expecting value: line 1 column 1 (char 0)", "'utf-8' codec can't
decode byte 0xff in position 0" or "Exceeds the limit (4300 digits) for integer string
conversion"; a person acting on the refusal needs where and what instead.
"""

from __future__ import annotations

import json


def unreadable(exc: BaseException) -> str | None:
    """Why JSON text could not be read (to follow "the body" or "the file"), or None when `exc`
    is not a failure of reading JSON."""
    if isinstance(exc, UnicodeDecodeError):
        byte = exc.object[exc.start] if exc.start < len(exc.object) else 0
        return f"is not UTF-8 text (byte 0x{byte:02X} at position {exc.start})"
    if isinstance(exc, json.JSONDecodeError):
        what = exc.msg[:1].lower() + exc.msg[1:]
        return f"is not JSON: {what} at line {exc.lineno}, column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "is JSON nested too deeply to parse"
    if isinstance(exc, ValueError) and "digits" in str(exc):
        return "holds an integer of more than 4,300 digits, too long to read"
    return None
