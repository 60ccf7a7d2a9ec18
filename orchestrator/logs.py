"""Structured logging (structlog): JSON in production, readable in a terminal; phone numbers
and secrets are masked before anything is written."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from orchestrator.domain.variables import SECRET_PREFIX
from orchestrator.settings import Settings

_PHONE = re.compile(r"\+\d{6,15}")
_SECRET_KEYS = ("secret", "api_key", "token", "authorization", "password")


def mask_phone(text: str) -> str:
    """`+14155550123` → `+1415*****23`: enough to tell numbers apart, not to dial them."""
    return _PHONE.sub(lambda m: m.group()[:5] + "*" * (len(m.group()) - 7) + m.group()[-2:], text)


def _scrub(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if any(marker in key.lower() for marker in _SECRET_KEYS):
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = mask_phone(value)
    return event


class HideSecretArguments(logging.Filter):
    """Hide the arguments arq logs with a job when they hold `secret__` values.

    arq logs each job it starts with its arguments (`→ id:enqueue_call({'variables': ...})`,
    cut at 80 characters): a Redis job's payload may carry `secret__` variables. A value follows
    its name in that text, so an argument whose text names a `secret__` variable is replaced whole.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's arguments in place; never drops a record."""
        if isinstance(record.args, tuple) and any(_names_a_secret(a) for a in record.args):
            record.args = tuple(
                "<arguments hidden: they hold secret__ values>" if _names_a_secret(a) else a
                for a in record.args
            )
        return True


def _names_a_secret(value: object) -> bool:
    return not isinstance(value, int | float) and SECRET_PREFIX in str(value)


def hide_job_secrets() -> None:
    """Install `HideSecretArguments` on arq's loggers (once per process)."""
    for name in ("arq.worker", "arq.jobs", "arq.connections"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, HideSecretArguments) for f in logger.filters):
            logger.addFilter(HideSecretArguments())


def configure_logging(settings: Settings) -> None:
    """Set up structlog and the standard library for one process."""
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    logging.basicConfig(stream=sys.stderr, level=level, format="%(message)s")
    hide_job_secrets()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _scrub,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
