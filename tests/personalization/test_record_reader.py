"""`RecordReader` against a real redis-server: values, FIFO matching under concurrency, timeouts
whose late replies are dropped, connections broken and opened again, the URL's database,
password and TLS, and `close()`.

Where Redis must be slow, `CLIENT PAUSE ... ALL` holds every command (a handshake's too) for a
known time; where it must break a connection with GETs in flight, a tiny output-buffer limit
makes it drop the client whose reply is too big.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlsplit

import pytest
from redis.asyncio import Redis

from orchestrator.errors import RedisUnavailable
from orchestrator.personalization.record_reader import RecordReader
from tests.support.ports import free_port

T = TypeVar("T")


@dataclass
class Admin:
    """A single-connection redis-py client of the test server, and what it knows of it."""

    redis: Redis
    host: str
    port: int
    #: Clients connected before the test began (not the test's readers).
    earlier: frozenset[int]

    def url(self, rest: str = "/0", *, credentials: str = "") -> str:
        """A redis:// URL of the test server, `rest` being the path and query."""
        at = f"{credentials}@" if credentials else ""
        return f"redis://{at}{self.host}:{self.port}{rest}"

    async def readers(self) -> set[int]:
        """Ids of the clients connected now that are neither this one nor from before the test."""
        own = await self.redis.client_id()
        listed = {int(c["id"]) for c in await self.redis.client_list(_type="normal")}
        return listed - self.earlier - {own}

    async def connections_made(self) -> int:
        """Connections the server has accepted since it started."""
        return int((await self.redis.info("stats"))["total_connections_received"])

    async def pause(self, millis: int) -> None:
        """Hold every client's commands for `millis` (this client's next one waits it out)."""
        await self.redis.client_pause(millis, all=True)


@pytest.fixture
async def admin(redis_server: str) -> AsyncIterator[Admin]:
    parts = urlsplit(redis_server)
    assert parts.hostname is not None and parts.port is not None
    client = Redis(host=parts.hostname, port=parts.port, single_connection_client=True)
    await client.flushall()
    earlier = frozenset(int(c["id"]) for c in await client.client_list(_type="normal"))
    yield Admin(client, parts.hostname, parts.port, earlier)
    await client.flushall()
    await client.aclose()


@pytest.fixture
async def open_reader() -> AsyncIterator[Callable[..., RecordReader]]:
    """Makes readers (timeout 2 s unless told), all closed after the test."""
    made: list[RecordReader] = []

    def make(url: str, timeout: float = 2.0) -> RecordReader:
        made.append(RecordReader(url, timeout=timeout))
        return made[-1]

    yield make
    for reader in made:
        await reader.close()


async def settle(probe: Callable[[], Awaitable[T]], want: T) -> T:
    """`probe()`'s answer once it is `want`, or its last one: the server sees a socket we closed
    a moment after we close it."""
    got = await probe()
    for _ in range(200):
        if got == want:
            break
        await asyncio.sleep(0.01)
        got = await probe()
    return got


# --- values -------------------------------------------------------------------------------------


async def test_a_get_answers_the_stored_bytes_exactly_and_none_when_absent(
    admin: Admin, open_reader: Callable[..., RecordReader]
) -> None:
    binary = bytes(range(256)) * 4 + b"\r\n$-1\r\n*2\r\n"  # every byte, and RESP look-alikes
    large = bytes(range(251)) * 8000  # ~2 MB: its reply spans many reads of the socket
    stored = {
        "plain": b"hi",
        "empty": b"",
        "binary": binary,
        "large": large,
        "cl\u00e9:\u260e": b"x",
    }
    await admin.redis.mset(stored)
    reader = open_reader(admin.url())

    for key, value in stored.items():
        assert await reader.get(key) == value
    assert await reader.get("absent") is None
    assert await reader.get("empty") == b""  # present and empty is not absent


async def test_concurrent_gets_each_get_their_own_value_over_one_connection(
    admin: Admin, open_reader: Callable[..., RecordReader]
) -> None:
    keys = [f"key:{i}" for i in range(500)]
    # Every 7th key absent, and values of varied sizes, so a reply matched to the wrong GET shows.
    expected = [None if i % 7 == 3 else f"value-{i}-".encode() * (1 + i % 5) for i in range(500)]
    await admin.redis.mset({k: v for k, v in zip(keys, expected, strict=True) if v is not None})
    made = await admin.connections_made()
    reader = open_reader(admin.url())

    async def staggered(i: int) -> bytes | None:
        for _ in range(i % 3):  # some GETs asked for in later turns of the loop than others
            await asyncio.sleep(0)
        return await reader.get(keys[i])

    assert await asyncio.gather(*(reader.get(k) for k in keys)) == expected
    assert await asyncio.gather(*(staggered(i) for i in range(500))) == expected
    assert await admin.connections_made() == made + 1  # all of them on one connection


async def test_an_error_reply_fails_only_its_own_get(
    admin: Admin, open_reader: Callable[..., RecordReader]
) -> None:
    await admin.redis.mset({"before": b"1", "after": b"2"})
    await admin.redis.zadd("a-set", {"x": 1})  # GET on a sorted set: -WRONGTYPE
    reader = open_reader(admin.url())

    before, wrong, after = await asyncio.gather(
        reader.get("before"), reader.get("a-set"), reader.get("after"), return_exceptions=True
    )
    assert (before, after) == (b"1", b"2")
    assert isinstance(wrong, RedisUnavailable)
    assert "WRONGTYPE" in str(wrong)
    assert await reader.get("before") == b"1"  # the connection is still good


# --- timeouts -----------------------------------------------------------------------------------


async def test_a_get_past_its_timeout_fails_and_its_late_reply_is_not_shifted_onto_later_gets(
    admin: Admin, open_reader: Callable[..., RecordReader]
) -> None:
    values = {f"k{i}": f"v{i}".encode() for i in range(200)}
    await admin.redis.mset({"late": b"late value", **values})
    reader = open_reader(admin.url(), timeout=0.4)
    assert await reader.get("k0") == b"v0"  # connected before Redis is paused
    made = await admin.connections_made()
    hz = (await admin.redis.config_get("hz"))["hz"]
    await admin.redis.config_set("hz", 100)  # a pause ends within 10 ms of its time, not 100
    try:
        await admin.pause(600)
        cancelled = asyncio.create_task(reader.get("k1"))
        await asyncio.sleep(0)  # it waits for its reply now
        cancelled.cancel()
        with pytest.raises(TimeoutError):
            await reader.get("late")  # gives up 0.4 s into the 0.6 s pause
        # Asked for behind the two GETs that gave up, answered when the pause ends (0.2 s
        # later, within their 0.4 s): the two replies before theirs must be dropped.
        answers = await asyncio.gather(*(reader.get(k) for k in values))
    finally:
        await admin.redis.config_set("hz", hz)

    assert answers == list(values.values())
    assert cancelled.cancelled()
    assert await reader.get("late") == b"late value"
    assert await admin.connections_made() == made  # the late replies broke nothing


# --- broken connections -------------------------------------------------------------------------


async def test_a_connection_the_server_killed_is_opened_again_by_a_later_get(
    admin: Admin, open_reader: Callable[..., RecordReader]
) -> None:
    await admin.redis.set("k", b"v")
    reader = open_reader(admin.url())
    assert await reader.get("k") == b"v"
    (first,) = await admin.readers()
    (address,) = [c["addr"] for c in await admin.redis.client_list() if int(c["id"]) == first]

    assert await admin.redis.client_kill(address) is True
    with contextlib.suppress(RedisUnavailable):
        # On the dead socket if the reader has not seen the close yet, else on a new connection.
        assert await reader.get("k") == b"v"
    assert await reader.get("k") == b"v"
    (second,) = await admin.readers()
    assert second != first


async def test_gets_in_flight_when_the_server_drops_the_connection_fail_then_a_get_reconnects(
    admin: Admin, open_reader: Callable[..., RecordReader]
) -> None:
    big = bytes(range(256)) * 1024  # 256 KiB
    await admin.redis.mset({"big": big, "a": b"A", "b": b"B"})
    reader = open_reader(admin.url())
    assert await reader.get("a") == b"A"
    made = await admin.connections_made()
    option = "client-output-buffer-limit"
    limits = (await admin.redis.config_get(option))[option]
    # Redis drops a normal client whose pending replies pass 64 KiB, as `big`'s does.
    await admin.redis.config_set(option, "normal 65536 65536 0")
    try:
        results = await asyncio.gather(
            reader.get("big"), reader.get("a"), reader.get("b"), return_exceptions=True
        )
    finally:
        await admin.redis.config_set(option, limits)

    assert [type(r) for r in results] == [RedisUnavailable] * 3, results
    assert await reader.get("b") == b"B"
    assert await reader.get("big") == big
    assert await admin.connections_made() == made + 1


async def test_nothing_listening_fails_at_once_with_redis_unavailable(
    open_reader: Callable[..., RecordReader],
) -> None:
    reader = open_reader(f"redis://127.0.0.1:{free_port()}/0", timeout=30)
    for _ in range(2):  # each GET tries again
        with pytest.raises(RedisUnavailable) as caught:
            await reader.get("k")
        # PersonalizationRefused, not the 30 s timeout run out.
        assert isinstance(caught.value.__cause__, ConnectionRefusedError)


async def test_a_connection_whose_handshake_timed_out_is_closed(
    admin: Admin, open_reader: Callable[..., RecordReader]
) -> None:
    await admin.pause(300)
    reader = open_reader(admin.url("/3"), timeout=0.05)  # SELECT 3 is its handshake
    with pytest.raises(RedisUnavailable) as caught:
        await reader.get("k")
    assert isinstance(caught.value.__cause__, TimeoutError)
    await admin.redis.ping()  # the pause is over: a connection left open would now be selected
    assert await settle(admin.readers, set[int]()) == set()


async def test_gets_waiting_for_a_connect_that_fails_fail_with_it(
    admin: Admin, open_reader: Callable[..., RecordReader]
) -> None:
    three = Redis(host=admin.host, port=admin.port, db=3)
    await three.set("k", b"three")
    await three.aclose()
    made = await admin.connections_made()
    await admin.pause(400)
    reader = open_reader(admin.url("/3"), timeout=0.05)

    results = await asyncio.gather(*(reader.get("k") for _ in range(5)), return_exceptions=True)
    assert [type(r) for r in results] == [RedisUnavailable] * 5, results
    # One attempt for the five, not one after another (the fifth GET waiting five timeouts).
    assert await admin.connections_made() == made + 1  # (waits for the pause to end)
    assert await reader.get("k") == b"three"  # and the next GET tries again


# --- the URL ------------------------------------------------------------------------------------


async def test_the_database_of_the_url_is_the_one_read(
    admin: Admin, open_reader: Callable[..., RecordReader]
) -> None:
    await admin.redis.set("k", b"zero")
    three = Redis(host=admin.host, port=admin.port, db=3)
    await three.set("k", b"three")
    await three.aclose()

    assert await open_reader(admin.url("/3")).get("k") == b"three"
    assert await open_reader(admin.url("/?db=3")).get("k") == b"three"
    assert await open_reader(admin.url("/0")).get("k") == b"zero"
    assert await open_reader(admin.url("")).get("k") == b"zero"


async def test_the_password_of_the_url_is_sent_and_a_wrong_one_is_refused(
    admin: Admin, open_reader: Callable[..., RecordReader]
) -> None:
    password = "p@ss:w/rd %"  # every character that must be %-escaped in a URL
    escaped = quote(password, safe="")
    await admin.redis.set("k", b"v")
    three = Redis(host=admin.host, port=admin.port, db=3)
    await three.set("k", b"three")
    await three.aclose()
    # `admin` logged in before the password existed, and stays logged in.
    await admin.redis.config_set("requirepass", password)
    try:
        with pytest.raises(RedisUnavailable, match="NOAUTH"):
            await open_reader(admin.url()).get("k")
        with pytest.raises(RedisUnavailable, match="WRONGPASS"):
            await open_reader(admin.url(credentials=":wrong")).get("k")
        with pytest.raises(RedisUnavailable, match="WRONGPASS"):
            await open_reader(admin.url(credentials=f"nobody:{escaped}")).get("k")
        assert await open_reader(admin.url(credentials=f":{escaped}")).get("k") == b"v"
        assert await open_reader(admin.url(credentials=f"default:{escaped}")).get("k") == b"v"
        assert await open_reader(admin.url("/3", credentials=f":{escaped}")).get("k") == b"three"
    finally:
        fixer = Redis(host=admin.host, port=admin.port, password=password)
        await fixer.config_set("requirepass", "")
        await fixer.aclose()
    assert (await admin.redis.config_get("requirepass"))["requirepass"] == ""


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:6379/0", "unix:///tmp/redis.sock", "127.0.0.1:6379", "", "valkey://h/0"],
)
def test_a_url_that_is_not_redis_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="redis://"):
        RecordReader(url, timeout=1)


# --- close() ------------------------------------------------------------------------------------


async def test_close_fails_the_gets_in_flight_and_a_later_get_connects_again(
    admin: Admin, open_reader: Callable[..., RecordReader]
) -> None:
    await admin.redis.set("k", b"v")
    reader = open_reader(admin.url())
    await reader.close()  # never connected: nothing to do
    assert await reader.get("k") == b"v"
    (first,) = await admin.readers()

    await admin.pause(200)
    in_flight = [asyncio.create_task(reader.get("k")) for _ in range(3)]
    for _ in range(2):
        await asyncio.sleep(0)  # asked for and written: each waits for its reply
    await reader.close()
    for task in in_flight:
        with pytest.raises(RedisUnavailable, match="closed"):
            await task

    assert await reader.get("k") == b"v"  # answered when the pause ends, on a new connection

    async def first_closed() -> bool:
        return first not in await admin.readers()

    assert await settle(first_closed, True)
    assert len(await admin.readers()) == 1
    await reader.close()
    await reader.close()
    assert await settle(admin.readers, set[int]()) == set()


# --- TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def tls_redis(tls_redis_server: tuple[str, Path]) -> str:
    """The URL of a redis-server speaking only TLS, with a self-signed certificate."""
    return tls_redis_server[0]


async def test_rediss_reads_over_tls_and_checks_the_certificate_unless_told_not_to(
    tls_redis: str, open_reader: Callable[..., RecordReader]
) -> None:
    unchecked = f"{tls_redis}?ssl_cert_reqs=none"
    client = Redis.from_url(unchecked)
    await client.set("k", b"over tls")
    await client.aclose()

    assert await open_reader(unchecked).get("k") == b"over tls"
    with pytest.raises(RedisUnavailable) as caught:
        await open_reader(tls_redis).get("k")  # self-signed: not trusted
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
    with pytest.raises(RedisUnavailable):
        await open_reader(tls_redis.replace("rediss://", "redis://")).get("k")  # no TLS
