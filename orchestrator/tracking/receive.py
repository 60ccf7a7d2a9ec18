"""Receive a post-call webhook body as it streams in: verify while reading, never buffer audio.

- The signature's timestamp is checked before the body is read (stale or future → 401 at once).
- Every chunk updates the HMAC (one per accepted secret, for rotation).
- A `post_call_audio` body has its base64 audio decoded straight into storage as it arrives;
  only the few hundred bytes around it are kept. Other bodies are kept in memory up to a cap.
- Nothing is kept unless the signature verifies: the partial recording is discarded otherwise.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from orchestrator.domain.signing import StreamVerifier
from orchestrator.errors import AudioFormatError, BodyTooLarge, ValidationFailed
from orchestrator.recordings.store import Storage, Writer
from orchestrator.tracking.audio_extract import AudioExtractor

#: Bodies other than audio are read into memory up to this size (a long transcript fits).
MAX_JSON_BYTES = 16 * 1024 * 1024
#: Audio bodies (base64 MP3) may be much larger; they stream to storage.
MAX_AUDIO_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Received:
    """A verified body: raw bytes, or for audio the envelope without audio plus where it went."""

    body: bytes
    audio_location: str | None = None
    audio_bytes: int = 0


class _AudioSink:
    """Where decoded audio goes: a storage writer, opened at the first bytes."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.writer: Writer | None = None

    def write(self, data: bytes) -> None:
        if self.writer is None:
            self.writer = self.storage.open_writer()
        self.writer.write(data)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
            self.writer = None


class _BodyReader:
    """Feeds one body to the verifier and, once it turns out to be audio, to storage.

    The extractor writes to a sink of its own, not to a method of the reader: a bound method
    would tie the two in a reference cycle, keeping every body (tens of kilobytes) alive until
    the cyclic collector runs, and making that collection long.
    """

    def __init__(self, verifier: StreamVerifier, storage: Storage) -> None:
        self.verifier = verifier
        self.sink = _AudioSink(storage)
        self.buffered: list[bytes] = []
        self.size = 0
        self.extractor = AudioExtractor(self.sink.write)

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.verifier.update(chunk)
        if self.size > MAX_AUDIO_BYTES:
            raise BodyTooLarge(MAX_AUDIO_BYTES)
        try:
            self.extractor.feed(chunk)
        except AudioFormatError:
            if self.extractor.found_audio:
                raise
            # Not an audio body after all (e.g. a huge transcript): keep buffering it.
            self.extractor = AudioExtractor(None)
        if self.extractor.found_audio:
            self.buffered.clear()
            return
        self.buffered.append(chunk)
        if self.size > MAX_JSON_BYTES:
            raise BodyTooLarge(MAX_JSON_BYTES)

    def finish(self) -> Received:
        self.verifier.verify()
        if not self.extractor.found_audio:
            return Received(body=b"".join(self.buffered))
        envelope = self.extractor.finish()
        conversation_id = envelope["data"].get("conversation_id")
        if not isinstance(conversation_id, str) or not conversation_id:
            raise ValidationFailed([("data.conversation_id", "required for post_call_audio")])
        location = None
        if self.sink.writer is not None:
            location = self.sink.writer.commit(f"{conversation_id}.mp3")
            self.sink.writer = None
        return Received(
            body=json.dumps(envelope).encode(),
            audio_location=location,
            audio_bytes=self.extractor.audio_bytes,
        )

    def abort(self) -> None:
        self.sink.abort()


async def receive(
    chunks: AsyncIterator[bytes],
    header: str | None,
    secrets: Iterable[str],
    storage: Storage,
    *,
    now: float,
    tolerance_secs: int,
    future_secs: int,
) -> Received:
    """Read, verify and (for audio) store one webhook body.

    Raises:
        SignatureError: missing, stale, future or non-matching signature (nothing kept).
        BodyTooLarge: over the cap for its kind (nothing kept).
        ValidationFailed: verified audio body that cannot be read (nothing kept).
        StorageFull: the recording could not be written (nothing kept; the poller fetches it).
    """
    verifier = StreamVerifier(
        header, secrets, now=now, tolerance_secs=tolerance_secs, future_secs=future_secs
    )
    reader = _BodyReader(verifier, storage)
    try:
        async for chunk in chunks:
            reader.feed(chunk)
        return reader.finish()
    except AudioFormatError as exc:
        raise ValidationFailed([("data.full_audio", str(exc))]) from exc
    finally:
        reader.abort()
