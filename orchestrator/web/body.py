"""Reading request bodies with a size cap, so an oversized body is refused, not buffered."""

from __future__ import annotations

from fastapi import HTTPException, Request


async def read_capped(request: Request, limit: int) -> bytes:
    """The raw body, or 413 as soon as it exceeds `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, detail=f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, detail=f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
