"""The errors polyroute raises, one tree under :class:`PolyrouteError`.

::

    PolyrouteError
    ├── ConfigError                    bad configuration, found at load time
    ├── InvalidRequest                 bad request, found before anything is sent
    ├── BudgetExceeded                 a budget would be overspent; nothing was sent (HTTP 402)
    ├── ProviderError                  one attempt at one endpoint failed
    │   ├── AuthenticationError        401/403: the endpoint is misconfigured
    │   ├── ModelNotFound              404: the provider does not serve that model
    │   ├── ContextLengthExceeded      the prompt does not fit the endpoint's context
    │   ├── BadRequest                 another 4xx: another provider would reject it too
    │   ├── ContentFiltered            the provider refused the content
    │   ├── QuotaExceeded              402, or 429 insufficient_quota: out of credit there
    │   ├── RateLimited                429
    │   ├── ServerError                5xx, 529 overloaded, an error inside a 200 stream
    │   ├── MalformedResponse          a body that is not what the wire format promises
    │   │   └── ResponseTooLarge       a body or stream line past router.limits
    │   ├── IncompleteStream           a stream that ended without a finish reason or [DONE]
    │   └── TransportError             no HTTP response
    │       ├── ConnectError           could not connect
    │       ├── ConnectionLost         the connection dropped mid-response
    │       └── Timeout
    │           ├── ConnectTimeout
    │           ├── ReadTimeout
    │           └── FirstTokenTimeout  a stream produced no content in time
    ├── StreamInterrupted              a stream failed after content reached the caller
    ├── Cancelled                      the caller stopped reading a stream (recorded, not raised)
    └── RoutingError                   the call as a whole failed
        ├── NoEndpointAvailable        every candidate failed or was unavailable
        └── DeadlineExceeded           the overall deadline passed

Every error raised to a caller for a routed call carries ``attempts``: the
:class:`~polyroute.Attempt` records of everything that was tried.

Errors never carry a secret: a provider error's message and body, and a configuration error's
message, are scrubbed of every key polyroute holds (and of anything shaped like a provider key)
when the error is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from polyroute._secret import scrub

if TYPE_CHECKING:
    from polyroute._types import Attempt

__all__ = [
    "AuthenticationError",
    "BadRequest",
    "BudgetExceeded",
    "Cancelled",
    "ConfigError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionLost",
    "ContentFiltered",
    "ContextLengthExceeded",
    "DeadlineExceeded",
    "FirstTokenTimeout",
    "IncompleteStream",
    "InvalidRequest",
    "MalformedResponse",
    "ModelNotFound",
    "NoEndpointAvailable",
    "PolyrouteError",
    "ProviderError",
    "QuotaExceeded",
    "RateLimited",
    "ReadTimeout",
    "ResponseTooLarge",
    "RoutingError",
    "ServerError",
    "StreamInterrupted",
    "Timeout",
    "TransportError",
]


class PolyrouteError(Exception):
    """Root of every error polyroute raises."""

    attempts: tuple[Attempt, ...] = ()

    def with_attempts(self, attempts: Sequence[Attempt]) -> PolyrouteError:
        """Attach the attempts made so far and return ``self``."""
        self.attempts = tuple(attempts)
        return self


class ConfigError(PolyrouteError, ValueError):
    """The configuration is invalid. ``path`` is the key path (``models.x.endpoints[0].provider``)."""

    def __init__(self, message: str, *, path: str = "") -> None:
        self.path = path
        super().__init__(scrub(f"{path}: {message}" if path else message))


class InvalidRequest(PolyrouteError, ValueError):
    """The request is invalid; raised before anything is sent. ``param`` names the offending field."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        self.param = param
        super().__init__(f"{param}: {message}" if param else message)


class BudgetExceeded(PolyrouteError):
    """A budget would be exceeded by this call (OpenRouter's 402); nothing was sent upstream."""

    status_code = 402

    def __init__(
        self,
        message: str,
        *,
        scope: str = "",
        limit: Any = None,
        spent: Any = None,
        requested: Any = None,
    ) -> None:
        self.scope = scope
        self.limit = limit
        self.spent = spent
        self.requested = requested
        super().__init__(message)


class ProviderError(PolyrouteError):
    """One attempt at one endpoint failed.

    ``status`` is the HTTP status (``None`` when there was no response), ``provider`` and
    ``model`` name the endpoint, ``retry_after`` is the delay the provider asked for in
    seconds, ``body`` the (truncated) error body and ``code`` the provider's error code.
    """

    #: whether the same endpoint may be tried again after a backoff
    retryable: bool = False
    #: whether this failure counts against the endpoint's health
    counts_against_endpoint: bool = True
    #: a rejected request whose wording is about length or tokens without saying "context":
    #: an endpoint with a larger declared context may still take it
    about_length: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        provider: str | None = None,
        model: str | None = None,
        retry_after: float | None = None,
        code: str | int | None = None,
        body: str | None = None,
    ) -> None:
        message = scrub(message)
        self.message = message
        self.status = status
        self.provider = provider
        self.model = model
        self.retry_after = retry_after
        self.code = scrub(code) if isinstance(code, str) else code
        self.body = scrub(body) if body else body
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.provider}/{self.model}" if self.provider else ""
        status = f" HTTP {self.status}" if self.status is not None else ""
        prefix = f"[{where}{status}] " if (where or status) else ""
        return f"{prefix}{self.message}"

    def located(self, provider: str, model: str) -> ProviderError:
        """Fill in the endpoint this error came from and return ``self``."""
        self.provider = self.provider or provider
        self.model = self.model or model
        return self


class AuthenticationError(ProviderError):
    """401/403: the key is missing, wrong or lacks permission. The endpoint is not retried."""


class ModelNotFound(ProviderError):
    """404: the provider does not serve this model id."""


class ContextLengthExceeded(ProviderError):
    """The prompt plus requested output does not fit the endpoint's context window."""

    counts_against_endpoint = False


class BadRequest(ProviderError):
    """Another 4xx: the provider rejected the request itself; other providers would too."""

    counts_against_endpoint = False


class ContentFiltered(ProviderError):
    """The provider's moderation refused the request."""

    counts_against_endpoint = False


class QuotaExceeded(ProviderError):
    """The account at this provider is out of credit or quota (402, or 429 ``insufficient_quota``).

    Not retried: waiting will not help. The endpoint is taken out of rotation like a bad key.
    """


class RateLimited(ProviderError):
    """429: too many requests. Retryable, honouring ``retry_after``."""

    retryable = True
    counts_against_endpoint = False


class ServerError(ProviderError):
    """5xx, 529 overloaded, or an error object inside an HTTP 200 stream."""

    retryable = True


class MalformedResponse(ProviderError):
    """The provider answered with something its wire format does not allow: not JSON, wrong
    types, impossible usage (negative or absurd token counts, a cost that is not a number), or a
    success with no choices. Fails over to the next candidate."""

    retryable = True


class ResponseTooLarge(MalformedResponse):
    """The response's decompressed body, or one line of its stream, passed the router's limits
    (``router.limits``). The connection is dropped at the limit; the call fails over."""


class IncompleteStream(ProviderError):
    """The stream ended without a finish reason or ``[DONE]``: never a silent success."""

    retryable = True


class TransportError(ProviderError):
    """No usable HTTP response: connection failures and timeouts."""

    retryable = True


class ConnectError(TransportError):
    """The connection could not be established."""


class ConnectionLost(TransportError):
    """The connection was reset or closed in the middle of a response."""


class Timeout(TransportError):
    """A timeout fired."""


class ConnectTimeout(Timeout):
    """Connecting took longer than the connect timeout."""


class ReadTimeout(Timeout):
    """The provider went silent for longer than the read timeout."""


class FirstTokenTimeout(Timeout):
    """A stream produced no content within the first-token timeout."""


class StreamInterrupted(PolyrouteError):
    """A stream failed after content had reached the caller, so it could not fail over.

    ``delivered_text`` is the text already yielded, ``delivered_chunks`` how many chunks,
    and ``__cause__`` / ``error`` the provider failure that ended it.
    """

    def __init__(self, error: PolyrouteError, *, delivered_text: str, delivered_chunks: int) -> None:
        self.error = error
        self.delivered_text = delivered_text
        self.delivered_chunks = delivered_chunks
        super().__init__(
            f"stream interrupted after {delivered_chunks} chunks ({len(delivered_text)} characters delivered): {error}"
        )


class Cancelled(PolyrouteError):
    """The caller closed a stream before it ended. Reported to observers (the ledger), not raised."""


class RoutingError(PolyrouteError):
    """The routed call failed as a whole. ``errors`` holds each attempt's error."""

    def __init__(self, message: str, *, errors: Sequence[BaseException] = ()) -> None:
        self.errors = tuple(errors)
        super().__init__(message)


class NoEndpointAvailable(RoutingError):
    """Every candidate endpoint failed, was skipped by its circuit breaker, or none fit."""


class DeadlineExceeded(RoutingError):
    """The overall deadline for the call passed before any endpoint succeeded."""
