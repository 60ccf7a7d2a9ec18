"""The webhook's one Redis read: GETs pipelined over a single connection.

The webhook's whole job on a hit is one GET, and through redis-py each GET costs more CPU than
the rest of the request together (its pool, command packing, a timeout context, the parser's
polling): at the ceiling the web spent most of its core there. This reader keeps one connection
and writes each GET as soon as it is asked for; concurrent requests' GETs share the socket and
Redis answers them in order, so a FIFO of futures matches each reply to its request, and one
task parses replies with hiredis as they arrive.

It reads only (GET), so nothing from a request can reach Redis. Failures are the caller's to
handle (the webhook answers the defaults): a broken connection fails every GET in flight and the
next GET connects again; a GET past its timeout gives up, and its late reply is matched to it and
dropped, so replies never shift onto other requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from typing import Any

import hiredis

from orchestrator.errors import RedisUnavailable
from orchestrator.redis_url import CERTIFICATE_HINT, parse


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


class _Target:
    """Where and how to connect, from a `redis://` or `rediss://` URL (`redis_url.parse`)."""

    def __init__(self, url: str) -> None:
        target = parse(url)
        self.host = target.host
        self.port = target.port
        self.address = target.address
        self.username = target.username
        self.password = target.password
        self.db = target.db
        #: TLS as the URL says (`ssl_cert_reqs`, `ssl_ca_certs`...), like every connection of ours.
        self.ssl = target.ssl_context()

    def handshake(self) -> list[bytes]:
        """Commands to send after connecting (each answered +OK)."""
        commands = []
        if self.password is not None:
            auth = [b"AUTH", self.password.encode()]
            if self.username:
                auth.insert(1, self.username.encode())
            commands.append(_command(*auth))
        if self.db:
            commands.append(_command(b"SELECT", str(self.db).encode()))
        return commands


class RecordReader:
    """Pipelined GETs on one connection to Redis."""

    def __init__(self, url: str, *, timeout: float) -> None:
        """Args:
        url: The Redis URL (`redis://` or `rediss://`, with user, password and db).
        timeout: Seconds a connect or a GET may take before it fails.
        """
        self._target = _Target(url)
        self._timeout = timeout
        self._writer: asyncio.StreamWriter | None = None
        self._pending: deque[asyncio.Future[Any]] = deque()
        self._reading: asyncio.Task[None] | None = None
        self._connecting: asyncio.Lock | None = None
        #: Connection attempts that failed, so GETs that waited for one fail with it.
        self._failures = 0
        #: GETs asked for in this turn of the event loop, written together at its end.
        self._outgoing: list[bytes] = []

    async def get(self, key: str) -> bytes | None:
        """The value at `key` (None when absent).

        Raises:
            RedisUnavailable: the connection failed or Redis answered an error.
            TimeoutError: no answer within the timeout.
        """
        writer = self._writer
        if writer is None or writer.is_closing():
            writer = await self._connect()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append(future)
        if not self._outgoing:
            # One write (one system call) for every GET asked for meanwhile.
            loop.call_soon(self._flush, writer)
        self._outgoing.append(_command(b"GET", key.encode()))
        # A timer rather than `asyncio.wait_for`, which costs a task per GET.
        timer = loop.call_later(self._timeout, _expire, future)
        try:
            reply = await future
        finally:
            timer.cancel()
        if reply is None or isinstance(reply, bytes):
            return reply
        raise RedisUnavailable(f"unexpected reply to GET: {type(reply).__name__}")

    def _flush(self, writer: asyncio.StreamWriter) -> None:
        outgoing, self._outgoing = self._outgoing, []
        if writer.is_closing():
            return  # the reader task fails the GETs in flight
        writer.write(b"".join(outgoing))

    async def close(self) -> None:
        """Close the connection (GETs in flight fail)."""
        self._drop(RedisUnavailable("closed"))
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reading
            self._reading = None

    async def _connect(self) -> asyncio.StreamWriter:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        failures = self._failures
        async with self._connecting:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer  # another request connected meanwhile
            if self._failures != failures:
                # The attempt this GET waited for failed: trying again in turn would make the
                # last of N waiting GETs wait N timeouts.
                raise RedisUnavailable("cannot connect to Redis: the attempt in progress failed")
            target = self._target
            opened: asyncio.StreamWriter | None = None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(target.host, target.port, ssl=target.ssl),
                    self._timeout,
                )
                opened = writer
                parser = hiredis.Reader()
                for command in target.handshake():
                    writer.write(command)
                    reply = await asyncio.wait_for(_reply(reader, parser), self._timeout)
                    if isinstance(reply, Exception):
                        raise RedisUnavailable(f"Redis refused the connection: {reply}")
                opened = None
            except ssl.SSLCertVerificationError as exc:
                self._failures += 1
                raise RedisUnavailable(
                    f"TLS to Redis at {target.address}: certificate verify failed "
                    f"({exc.verify_message}); {CERTIFICATE_HINT}"
                ) from exc
            except OSError as exc:
                self._failures += 1
                raise RedisUnavailable(f"cannot connect to Redis: {exc}") from exc
            finally:
                if opened is not None:
                    # A handshake refused, timed out or cancelled: nothing else closes it, and
                    # the transport stays registered with the loop, the socket open for good.
                    opened.close()
            self._writer = writer
            self._reading = asyncio.create_task(self._read(reader, parser, writer))
            return writer

    async def _read(
        self, reader: asyncio.StreamReader, parser: Any, writer: asyncio.StreamWriter
    ) -> None:
        error: Exception = RedisUnavailable("Redis closed the connection")
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    future = self._pending.popleft()
                    if not future.done():  # a GET that timed out is dropped here
                        if isinstance(reply, Exception):
                            future.set_exception(RedisUnavailable(str(reply)))
                        else:
                            future.set_result(reply)
        except (OSError, IndexError, hiredis.ProtocolError) as exc:
            error = RedisUnavailable(f"Redis connection failed: {exc}")
        finally:
            writer.close()
            if self._writer is writer:
                self._writer = None
                self._drop(error)

    def _drop(self, error: Exception) -> None:
        pending, self._pending = self._pending, deque()
        for future in pending:
            if not future.done():
                future.set_exception(error)
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError("no answer from Redis in time"))


async def _reply(reader: asyncio.StreamReader, parser: Any) -> Any:
    """One reply read during the handshake."""
    while (reply := parser.gets()) is False:
        data = await reader.read(65536)
        if not data:
            raise RedisUnavailable("Redis closed the connection")
        parser.feed(data)
    return reply
