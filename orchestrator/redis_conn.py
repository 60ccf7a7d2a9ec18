"""How our processes connect to Redis: one reading of the URL (`redis_url.parse`), TLS included.

Workers ride out a short outage: without retries an arq worker dies on its first failed command
when Redis restarts (a managed Redis failover, a redis-server restart); with them each command,
and the first connection, is retried with exponential backoff for about a minute, so workers
carry on once Redis is back; a longer outage still ends the process, and the platform restarts
it. The web process does not retry: a webhook arriving during an outage should get a quick 503,
not hang.

A certificate the server's TLS cannot prove is not an outage: it is never retried, and the error
says what to change (`redis_url.CERTIFICATE_HINT`) instead of a minute of identical warnings.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from arq.connections import RedisSettings
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, RedisError, TimeoutError

from orchestrator.redis_url import CERTIFICATE_HINT, RedisTarget, parse

T = TypeVar("T")

#: About a minute of retries: 0.05 s doubling to 2 s per try.
RETRIES = 35


class CertificateRefused(RedisError):
    """The server's TLS certificate failed verification (not retried: it will fail again).

    A `RedisError` but not a `ConnectionError`, so no retry policy takes it for an outage;
    redis-py reports it as a `ConnectionError` carrying this message.
    """


class TlsAwareRetry(Retry):
    """redis-py's retry policy, except that a refused certificate fails at once, explained."""

    def __init__(self, target: RedisTarget, backoff: Any, retries: int, **kwargs: Any) -> None:
        super().__init__(backoff, retries, **kwargs)
        self._address = target.address

    async def call_with_retry(
        self, do: Callable[[], Awaitable[T]], fail: Callable[[Any], Any]
    ) -> T:
        """Run `do` with retries; a certificate verification failure is raised at once."""

        async def once() -> T:
            try:
                return await do()
            except ssl.SSLCertVerificationError as exc:
                raise CertificateRefused(
                    f"TLS to Redis at {self._address}: certificate verify failed "
                    f"({exc.verify_message}); {CERTIFICATE_HINT}"
                ) from exc

        return await super().call_with_retry(once, fail)


def _arq_settings(target: RedisTarget, retry: Retry, conn_retries: int) -> RedisSettings:
    return RedisSettings(
        host=target.host,
        port=target.port,
        database=target.db,
        username=target.username,
        password=target.password,
        ssl=target.tls,
        ssl_cert_reqs=target.cert_reqs,
        ssl_ca_certs=target.ca_certs,
        ssl_certfile=target.certfile,
        ssl_keyfile=target.keyfile,
        ssl_check_hostname=target.check_hostname,
        conn_retries=conn_retries,
        retry=retry,
    )


def redis_settings(url: str) -> RedisSettings:
    """arq `RedisSettings` for a worker or enqueuer: TLS as the URL says, commands retried.

    Raises:
        ValueError: the URL is not one `redis_url.parse` accepts.
    """
    target = parse(url)
    retry = TlsAwareRetry(target, ExponentialBackoff(cap=2.0, base=0.05), RETRIES)
    # The retry policy covers the first connection too (about a minute): arq's own reconnect
    # loop would only repeat it, a refused certificate included, so it is off.
    settings = _arq_settings(target, retry, conn_retries=0)
    settings.retry_on_timeout = True
    settings.retry_on_error = [ConnectionError, TimeoutError, BusyLoadingError, OSError]
    return settings


def web_redis_settings(url: str) -> RedisSettings:
    """arq `RedisSettings` for the web process: TLS as the URL says, commands not retried (quick
    503s); at start-up arq's few reconnects (a second apart) stay, as before."""
    target = parse(url)
    return _arq_settings(target, TlsAwareRetry(target, NoBackoff(), 0), conn_retries=5)


def redis_client(url: str, **options: Any) -> Redis:
    """A redis-py asyncio client for `url` (the CLI's, and tools'), TLS as the URL says.

    Args:
        url: The Redis URL.
        **options: More keyword arguments of `redis.asyncio.Redis` (timeouts...).
    """
    target = parse(url)
    return Redis(
        **target.redis_py_kwargs(),
        retry=TlsAwareRetry(target, NoBackoff(), 0),
        **options,
    )
