"""A deterministic fake MP3: an ID3v2 tag, then MPEG-1 Layer III frame headers with filler.

Real enough for anything that sniffs the format (magic bytes, frame sync) and stores bytes;
not playable sound. The same conversation id always yields the same bytes, so a download
can be compared with the `post_call_audio` webhook's payload.
"""

from __future__ import annotations

import hashlib

#: MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no CRC, no padding, joint stereo.
_FRAME_HEADER = bytes([0xFF, 0xFB, 0x90, 0x64])
#: 144 * bitrate / sample_rate = 144 * 128000 / 44100 → 417 bytes a frame.
_FRAME_BYTES = 417


def _id3_tag(title: str) -> bytes:
    text = title.encode("latin-1", "replace")
    frame_body = b"\x00" + text  # encoding byte 0 = ISO-8859-1
    frame = b"TIT2" + len(frame_body).to_bytes(4, "big") + b"\x00\x00" + frame_body
    size = len(frame)
    # ID3v2 sizes are "syncsafe": 7 bits per byte so no byte looks like a frame sync.
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x03\x00\x00" + syncsafe + frame


def fake_mp3(conversation_id: str, size: int) -> bytes:
    """About `size` bytes (whole frames, at least one) of MP3-looking audio for a conversation."""
    tag = _id3_tag(f"sandbox {conversation_id}")
    seed = hashlib.sha256(conversation_id.encode()).digest()
    filler = (seed * (_FRAME_BYTES // len(seed) + 1))[: _FRAME_BYTES - len(_FRAME_HEADER)]
    frame = _FRAME_HEADER + filler
    frames = max(1, (size - len(tag)) // _FRAME_BYTES)
    return tag + frame * frames
