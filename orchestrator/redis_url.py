"""What a `redis://` or `rediss://` URL says, read once for every Redis connection we open.

The arq worker and enqueuers, the web's pool (limiter, queue), the personalization reader and
the CLI all connect through what `parse` returns, so a URL means the same everywhere. TLS options
ride in the query, as redis-py spells them and platforms set them (Heroku Redis serves a
self-signed certificate: `rediss://...?ssl_cert_reqs=none`):

- `ssl_cert_reqs`: `required` (default: the chain is verified, and the host name unless
  `ssl_check_hostname=false`), `optional`, or `none` (no verification: encrypted, not
  authenticated);
- `ssl_ca_certs`: a PEM file of CAs to verify against instead of the system's;
- `ssl_certfile` / `ssl_keyfile`: a client certificate, for servers that ask for one;
- `ssl_check_hostname`: `true` / `false`;
- `db`: the database number (also the URL's path).

Anything else in the query is refused (a misspelt option silently ignored is how a connection
ends up unverified, or unreachable, without a word). Nothing here does I/O.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

CertReqs = Literal["none", "optional", "required"]

_CERT_REQS: dict[str, CertReqs] = {
    "none": "none",
    "cert_none": "none",
    "optional": "optional",
    "cert_optional": "optional",
    "required": "required",
    "cert_required": "required",
}
_VERIFY_MODES = {
    "none": ssl.CERT_NONE,
    "optional": ssl.CERT_OPTIONAL,
    "required": ssl.CERT_REQUIRED,
}
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_KNOWN = {
    "db",
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_check_hostname",
}

#: What to do when a server's certificate is refused (said with every such error).
CERTIFICATE_HINT = (
    "for a server with a self-signed certificate (Heroku Redis) add ?ssl_cert_reqs=none to the "
    "rediss:// URL, or ?ssl_ca_certs=/path/ca.pem to verify against its CA"
)


@dataclass(frozen=True)
class RedisTarget:
    """Where and how to connect."""

    host: str
    port: int
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    cert_reqs: CertReqs = "required"
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    check_hostname: bool = True

    @property
    def address(self) -> str:
        """`host:port`, for messages (never the password)."""
        return f"{self.host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for this target (None without TLS)."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_certs)
        context.check_hostname = self.check_hostname
        context.verify_mode = _VERIFY_MODES[self.cert_reqs]
        if self.certfile:
            context.load_cert_chain(self.certfile, self.keyfile)
        return context

    def redis_py_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of redis-py's `Redis` (and arq's pool) for this target."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "db": self.db,
            "username": self.username,
            "password": self.password,
        }
        if self.tls:
            kwargs.update(
                ssl=True,
                ssl_cert_reqs=self.cert_reqs,
                ssl_ca_certs=self.ca_certs,
                ssl_certfile=self.certfile,
                ssl_keyfile=self.keyfile,
                ssl_check_hostname=self.check_hostname,
            )
        return kwargs


def parse(url: str) -> RedisTarget:
    """Read a Redis URL.

    Raises:
        ValueError: not a redis:// or rediss:// URL, or an option that is unknown, misspelt or
            of a wrong value (the message names the option, never the password).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"expected a redis:// or rediss:// URL, not {parts.scheme or 'none'}://")
    try:
        port = parts.port or 6379
    except ValueError:
        raise ValueError("the port is not a number from 0 to 65535") from None
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    unknown = sorted(set(query) - _KNOWN)
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(_KNOWN))})"
        )
    tls_options = sorted(name for name in query if name.startswith("ssl_"))
    if tls_options and parts.scheme != "rediss":
        raise ValueError(f"{', '.join(tls_options)} need a rediss:// URL (TLS)")
    reqs = _CERT_REQS.get(query.get("ssl_cert_reqs", "required").strip().lower())
    if reqs is None:
        raise ValueError("ssl_cert_reqs: expected none, optional or required")
    hostname = query.get("ssl_check_hostname")
    check_hostname = reqs == "required"
    if hostname is not None:
        if hostname.strip().lower() not in _BOOLEANS:
            raise ValueError("ssl_check_hostname: expected true or false")
        check_hostname = _BOOLEANS[hostname.strip().lower()]
        if check_hostname and reqs != "required":
            raise ValueError("ssl_check_hostname=true needs ssl_cert_reqs=required")
    return RedisTarget(
        host=parts.hostname or "localhost",
        port=port,
        db=_db(parts.path, query.get("db")),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=parts.scheme == "rediss",
        cert_reqs=reqs,
        ca_certs=query.get("ssl_ca_certs"),
        certfile=query.get("ssl_certfile"),
        keyfile=query.get("ssl_keyfile"),
        check_hostname=check_hostname,
    )


def _db(path: str, given: str | None) -> int:
    text = given if given is not None else (path.lstrip("/") or "0")
    if not text.isdigit() or int(text) > 10_000:
        raise ValueError("the database number (path or ?db=) must be a small whole number")
    return int(text)


def check(url: str) -> str:
    """`url` unchanged when `parse` accepts it (a settings validator).

    Raises:
        ValueError: as `parse`.
    """
    parse(url)
    return url
