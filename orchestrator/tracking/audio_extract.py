"""Pull the base64 `full_audio` out of a `post_call_audio` body without holding it in memory.

The body is `{"type": ..., "data": {"conversation_id": ..., "full_audio": "<many MB of base64>"}}`.
`AudioExtractor` is fed the raw bytes chunk by chunk: the audio string is decoded as it streams
(in groups of four base64 characters) and handed to a sink, while everything else — a few hundred
bytes — is kept as a "skeleton" JSON with the audio replaced by an empty string, which is parsed
at the end for the type and the conversation id.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from orchestrator.errors import AudioFormatError

_KEY = b'"full_audio"'


class AudioExtractor:
    """Feed chunks with `feed`, then call `finish` for the skeleton (type, data without audio)."""

    def __init__(self, sink: Callable[[bytes], None] | None) -> None:
        self._sink = sink
        self._skeleton = bytearray()
        self._state = "scan"  # scan → colon → open → value → done
        self._pending = b""  # base64 characters not yet a multiple of four
        self._escape = False
        self.audio_bytes = 0

    def feed(self, chunk: bytes) -> None:
        """Consume the next piece of the body."""
        data = chunk
        while data:
            if self._state == "scan":
                data = self._scan(data)
            elif self._state in ("colon", "open"):
                data = self._until_value(data)
            elif self._state == "value":
                data = self._value(data)
            else:
                self._skeleton += data
                data = b""
            if len(self._skeleton) > 1_000_000:
                raise AudioFormatError("event has more than 1 MB outside full_audio")

    def finish(self) -> dict[str, Any]:
        """The parsed envelope with `data.full_audio` emptied.

        Raises:
            AudioFormatError: no audio string, truncated audio, or invalid JSON around it.
        """
        if self._state != "done":
            raise AudioFormatError("no complete full_audio string in the body")
        if self._pending:
            self._emit(self._pending, final=True)
        try:
            payload = json.loads(bytes(self._skeleton))
        except ValueError as exc:
            raise AudioFormatError(f"malformed JSON: {exc}") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise AudioFormatError("expected an object with a data object")
        return payload

    # ---- states -----------------------------------------------------------------------------
    def _scan(self, data: bytes) -> bytes:
        # Keep a tail that may hold the start of the key split across chunks.
        joined = bytes(self._skeleton[-len(_KEY) :]) + data
        index = joined.find(_KEY)
        if index < 0:
            self._skeleton += data
            return b""
        consumed = index + len(_KEY) - min(len(self._skeleton), len(_KEY))
        self._skeleton += data[:consumed]
        self._state = "colon"
        return data[consumed:]

    def _until_value(self, data: bytes) -> bytes:
        for i, byte in enumerate(data):
            char = chr(byte)
            if char.isspace():
                continue
            if self._state == "colon":
                if char != ":":
                    raise AudioFormatError("expected ':' after full_audio")
                self._skeleton += b":"
                self._state = "open"
            elif char == '"':
                self._skeleton += b'"'
                self._state = "value"
                return data[i + 1 :]
            else:
                raise AudioFormatError("full_audio must be a string")
        return b""

    def _value(self, data: bytes) -> bytes:
        end = data.find(b'"')
        piece = data if end < 0 else data[:end]
        # JSON may escape "/" as "\/"; base64 has no other character needing an escape.
        # A backslash that ended the previous chunk escapes this chunk's first character.
        if self._escape and piece:
            self._escape = False
        if piece.endswith(b"\\") and not piece.endswith(b"\\\\"):
            piece = piece[:-1]
            self._escape = True
        piece = piece.replace(b"\\/", b"/")
        if b"\\" in piece:
            raise AudioFormatError("unexpected escape in full_audio")
        self._emit(self._pending + piece)
        if end < 0:
            return b""
        self._skeleton += b'"'
        self._state = "done"
        return data[end + 1 :]

    @property
    def found_audio(self) -> bool:
        """True once the `full_audio` string has begun."""
        return self._state in ("value", "done")

    def _emit(self, chars: bytes, *, final: bool = False) -> None:
        if self._sink is None:
            return
        usable = len(chars) if final else len(chars) - len(chars) % 4
        self._pending = chars[usable:]
        if usable:
            try:
                decoded = base64.b64decode(chars[:usable], validate=True)
            except binascii.Error as exc:
                raise AudioFormatError(f"full_audio is not base64: {exc}") from exc
            self.audio_bytes += len(decoded)
            self._sink(decoded)
