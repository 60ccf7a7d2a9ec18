"""One exception tree for the whole orchestrator.

```
OrchestratorError
├── ValidationFailed          bad input; carries (field, reason) pairs — never retried
├── InvalidPhoneNumber        a text that is not a dialable number (also a ValueError)
├── CsvRefused                a file that cannot be imported at all (also a ValueError)
│   └── CsvNotUtf8            not UTF-8: refused whole, before any row is stored
├── BodyTooLarge              a request body over the cap for its route or kind
├── NotFound                  unknown campaign, contact, attempt
├── Conflict                  the request is valid but the state refuses it
│   ├── CampaignExists        the name is taken
│   └── CallRefused           a call that cannot be placed now (`code` says why)
├── SignatureError            a webhook whose signature is missing, wrong or stale
├── AccessDenied              a page without a live session, or one whose scope cannot open it
│   └── CsrfRefused           an unsafe request without its form's current token
├── PersonalizationRefused    a personalization request answered 4xx (status, JSON body)
├── InvalidSettings           settings that cannot be loaded (fields and reasons, no values)
│   └── UnsignedNotifications a campaign notifies a CRM this process cannot sign for (prod)
├── PricingError              the pricing file is malformed or lacks the plan
├── SecretsUnavailable        a secret to seal or open and no (matching) key
│   └── InitiationRefused     a call's initiation data can no longer be built as it stands
├── StorageFull               no room left for a recording (also an OSError)
├── AudioFormatError          an audio webhook body we cannot read (also a ValueError)
├── RedisUnavailable          the personalization reader's connection broke (a ConnectionError)
├── ValidationWorkerError     a CSV validation worker process failed
└── ProviderError             anything from the voice provider
    ├── ProviderRefused       a definite "no": 4xx, 429 concurrency — the call was NOT placed
    │   ├── ProviderBusy      429 too_many_concurrent_requests / system_busy — retry later
    │   └── RequestUnsendable our request could not be encoded — it was never sent
    └── ProviderAmbiguous     timeout, reset, 5xx — the call MAY have been placed
```

Transient versus permanent is decided by type: `ProviderBusy` is retried after a delay;
`ProviderAmbiguous` is never retried blindly (the dial POST is not idempotent) but reconciled.
Where a library's own base matters to callers (`ValueError`, `OSError`, `ConnectionError`) a
class keeps it as a second base. The HTTP mapping of these lives only in `orchestrator/web/`
(`web/errors.py`, and `web/problems.ApiError` for answers built by routes). Outside the tree by
design: exceptions private to one module that never leave it (control flow), the dev kit's, and
`redis_conn.CertificateRefused`, which must stay a redis-py `RedisError` for its retry policy.
"""

from __future__ import annotations

from collections.abc import Mapping


class OrchestratorError(Exception):
    """Base of every error the orchestrator raises on purpose."""


class ValidationFailed(OrchestratorError):
    """Input refused; `problems` lists (field, reason) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in problems))


class NotFound(OrchestratorError):
    """A named thing does not exist."""

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"unknown {kind}: {key}")


class SignatureError(OrchestratorError):
    """A webhook's signature is missing, malformed, wrong or outside the time tolerance."""


class InvalidPhoneNumber(OrchestratorError, ValueError):
    """The text is not a valid, dialable phone number."""


class CsvRefused(OrchestratorError, ValueError):
    """The file cannot be imported at all (no header, required columns missing)."""


class CsvNotUtf8(CsvRefused):
    """The file is not UTF-8: refused whole, before any row is stored."""


class BodyTooLarge(OrchestratorError):
    """A request body over the cap for its route or kind; nothing of it is kept."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the body is larger than {limit} bytes")


class Conflict(OrchestratorError):
    """The request is valid, but the state of what it names refuses it."""


class CampaignExists(Conflict):
    """A campaign with that name already exists."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"a campaign named {name!r} already exists")


class CallRefused(Conflict):
    """The call cannot be placed: `code` says why (`do_not_call`, `call_in_progress`...)."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        super().__init__(reason)


class AccessDenied(OrchestratorError):
    """No live session for this page (401), or one whose scope may not open it (403)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class CsrfRefused(AccessDenied):
    """An unsafe request without the form's current token (answered 403)."""

    def __init__(self, reason: str) -> None:
        super().__init__(403, reason)
        self.reason = reason


class PersonalizationRefused(OrchestratorError):
    """A personalization request answered with a 4xx: `status` and the JSON `payload`."""

    def __init__(self, status: int, payload: Mapping[str, object]) -> None:
        super().__init__(payload.get("reason") or payload.get("error"))
        self.status = status
        self.payload = payload


class InvalidSettings(OrchestratorError):
    """The settings cannot be loaded; the message names each field and reason, no value."""


class UnsignedNotifications(InvalidSettings):
    """In prod: a campaign notifies a CRM, and this process has no usable secret to sign with."""


class PricingError(OrchestratorError):
    """The pricing file is malformed or lacks the configured plan."""


class SecretsUnavailable(OrchestratorError):
    """A secret must be encrypted or decrypted but no (matching) key is configured."""


class InitiationRefused(SecretsUnavailable):
    """The initiation data can no longer be built (the configuration changed since intake).

    A `SecretsUnavailable` because that is what the dialer fails an attempt on before dialing:
    both mean "this call cannot be placed as it stands"; the message names field and reason.
    """


class StorageFull(OrchestratorError, OSError):
    """The storage has no room left; the write was abandoned and nothing partial was kept."""


class AudioFormatError(OrchestratorError, ValueError):
    """The body is not a `post_call_audio` event we can read."""


class RedisUnavailable(OrchestratorError, ConnectionError):
    """The connection broke, or Redis answered an error."""


class ValidationWorkerError(OrchestratorError):
    """A validation worker process failed (the import stops; nothing of the batch is lost)."""


class ProviderError(OrchestratorError):
    """The voice provider answered with an error or not at all."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


class ProviderRefused(ProviderError):
    """A definite refusal: the provider did not place the call."""


class ProviderBusy(ProviderRefused):
    """Concurrency exceeded or the system is busy: nothing was placed; retry after a delay."""

    def __init__(
        self, message: str, *, status_code: int | None = 429, retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status_code=status_code)


class RequestUnsendable(ProviderRefused):
    """Our request could not be built or encoded (text JSON cannot carry, a non-finite number):
    it never left, so nothing was placed. A failure of the record, not of the provider."""


class ProviderAmbiguous(ProviderError):
    """Timeout, reset or 5xx after the request was sent: the call may exist. Reconcile."""
