"""A lean HTTP/1.1 load generator over keep-alive sockets, for the benchmarks.

httpx spends more CPU per request than the server under test does, and on a 2-core machine the
load generator must not starve the server; this one writes pre-built requests and reads the
status line and body length, nothing more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    """Latencies (seconds) and status codes of every request, and the wall time."""

    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    elapsed: float = 0.0

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    @property
    def rate(self) -> float:
        """Requests per second over the run."""
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    @property
    def errors(self) -> int:
        """Answers that were not 2xx."""
        return sum(1 for s in self.statuses if not 200 <= s < 300)


def build_request(
    host: str, path: str, body: bytes, headers: dict[str, str], method: str = "POST"
) -> bytes:
    """One raw HTTP/1.1 request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def run_load(
    url: str,
    requests: Sequence[bytes] | Callable[[int], bytes],
    *,
    count: int,
    connections: int,
    rate: float | None = None,
) -> LoadResult:
    """Send `count` requests over `connections` keep-alive sockets (open loop when `rate`)."""
    parts = urlsplit(url)
    result = LoadResult()
    next_index = 0
    started = time.perf_counter()

    def take() -> int | None:
        nonlocal next_index
        if next_index >= count:
            return None
        index = next_index
        next_index += 1
        return index

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while (index := take()) is not None:
                if rate is not None:
                    # Open loop: each request has its slot in time; latency counts from it.
                    due = started + index / rate
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    sent_at = max(due, time.perf_counter() - 0.0)
                else:
                    sent_at = time.perf_counter()
                raw = requests(index) if callable(requests) else requests[index % len(requests)]
                writer.write(raw)
                status = await _read_response(reader)
                result.latencies.append(time.perf_counter() - min(sent_at, time.perf_counter()))
                result.statuses.append(status)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    result.elapsed = time.perf_counter() - started
    return result
