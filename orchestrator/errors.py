"""One exception tree for the whole orchestrator.

```
OrchestratorError
├── ValidationFailed          bad input; carries (field, reason) pairs — never retried
├── NotFound                  unknown campaign, contact, attempt
├── SignatureError            a webhook whose signature is missing, wrong or stale
└── ProviderError             anything from the voice provider
    ├── ProviderRefused       a definite "no": 4xx, 429 concurrency — the call was NOT placed
    │   ├── ProviderBusy      429 too_many_concurrent_requests / system_busy — retry later
    │   └── RequestUnsendable our request could not be encoded — it was never sent
    └── ProviderAmbiguous     timeout, reset, 5xx — the call MAY have been placed
```

Transient versus permanent is decided by type: `ProviderBusy` is retried after a delay;
`ProviderAmbiguous` is never retried blindly (the dial POST is not idempotent) but reconciled.
The HTTP mapping of these lives only in `orchestrator/web/`.
"""

from __future__ import annotations


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
