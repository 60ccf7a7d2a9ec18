"""How workers connect to Redis: arq settings that ride out a short outage.

Without retries an arq worker dies on its first failed command when Redis restarts (a managed
Redis failover, a redis-server restart). With them each command is retried with exponential
backoff for about a minute, so workers carry on once Redis is back; a longer outage still ends
the process, and the platform restarts it. The web process does not retry: a webhook arriving
during an outage should get a quick 503, not hang.
"""

from __future__ import annotations

from arq.connections import RedisSettings
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

#: About a minute of retries: 0.05 s doubling to 2 s per try.
RETRIES = 35


def redis_settings(url: str) -> RedisSettings:
    """arq `RedisSettings` for `url` with connection-level retries."""
    settings = RedisSettings.from_dsn(url)
    settings.conn_retries = 30
    settings.retry_on_timeout = True
    settings.retry_on_error = [ConnectionError, TimeoutError, BusyLoadingError, OSError]
    settings.retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), RETRIES)
    return settings
