"""Errors as OpenAI-shaped JSON with OpenRouter's status codes.

Every error body is ``{"error": {"message", "type", "param", "code", "metadata"?}}``: OpenAI's
shape (its SDKs raise the matching exception class by status), with OpenRouter's numeric
``code`` equal to the HTTP status and, for a routed call, the attempts under
``metadata.attempts``. The mapping from :mod:`polyroute.errors`:

=================================================  ======  ===========================
error                                              status  type
=================================================  ======  ===========================
``InvalidRequest``, ``BadRequest``,                400     ``invalid_request_error``
``ContextLengthExceeded`` (every endpoint)
a missing, unknown or disabled key                 401     ``authentication_error``
``BudgetExceeded`` (a key's credit, a budget)      402     ``insufficient_credits``
a model or provider the key may not use,           403     ``permission_error``
``ContentFiltered``
``DeadlineExceeded``                               408     ``timeout``
a body over the size limit                         413     ``invalid_request_error``
the key's rate limit, or every endpoint 429        429     ``rate_limit_error`` (+ ``Retry-After``)
every endpoint failed after being sent to          502     ``upstream_error``
no endpoint could be tried (open breakers...)      503     ``service_unavailable``
=================================================  ======  ===========================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from polyroute.errors import (
    BadRequest,
    BudgetExceeded,
    ContentFiltered,
    ContextLengthExceeded,
    DeadlineExceeded,
    InvalidRequest,
    PolyrouteError,
    ProviderError,
    RateLimited,
    RoutingError,
    StreamInterrupted,
)

__all__ = ["GatewayError", "error_body", "error_for", "error_response"]

_JSON = "application/json"


class GatewayError(Exception):
    """An error the gateway answers with: HTTP ``status``, OpenAI ``type``, optional ``param``,
    ``retry_after`` (seconds) and ``metadata``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str,
        param: str | None = None,
        retry_after: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.retry_after = retry_after
        self.metadata = metadata


def error_body(err: GatewayError) -> dict[str, Any]:
    """The JSON body of ``err``."""
    inner: dict[str, Any] = {"message": err.message, "type": err.type, "param": err.param, "code": err.status}
    if err.metadata:
        inner["metadata"] = err.metadata
    return {"error": inner}


def error_response(err: GatewayError) -> web.Response:
    """``err`` as an HTTP response (with ``Retry-After`` when it has one)."""
    headers = {}
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(err.retry_after)))
    return web.Response(
        status=err.status, body=orjson.dumps(error_body(err)), content_type=_JSON, headers=headers or None
    )


def _attempts(exc: PolyrouteError) -> list[dict[str, Any]]:
    return [
        {
            "provider": a.provider,
            "model": a.model,
            "endpoint_model": a.endpoint_model,
            "outcome": a.outcome,
            "error": a.error,
            "status": a.status,
            "message": a.message,
            "latency_s": round(a.latency_s, 6),
        }
        for a in exc.attempts
    ]


def _retry_after(exc: PolyrouteError) -> float | None:
    errors = getattr(exc, "errors", ())
    delays = [e.retry_after for e in errors if isinstance(e, ProviderError) and e.retry_after is not None]
    return min(delays) if delays else None


def _routing(exc: RoutingError, meta: dict[str, Any]) -> GatewayError:
    if isinstance(exc, DeadlineExceeded):
        return GatewayError(408, str(exc), type="timeout", metadata=meta)
    errors = [e for e in exc.errors if isinstance(e, PolyrouteError)]
    if errors and all(isinstance(e, BudgetExceeded) for e in errors):
        return GatewayError(402, str(errors[0]), type="insufficient_credits", metadata=meta)
    if errors and all(isinstance(e, (BadRequest, ContextLengthExceeded)) for e in errors):
        return GatewayError(400, str(errors[-1]), type="invalid_request_error", metadata=meta)
    if errors and all(isinstance(e, RateLimited) for e in errors):
        return GatewayError(429, str(exc), type="rate_limit_error", retry_after=_retry_after(exc), metadata=meta)
    if errors and all(isinstance(e, ContentFiltered) for e in errors):
        return GatewayError(403, str(errors[-1]), type="permission_error", metadata=meta)
    if any(a.outcome != "skipped" for a in exc.attempts):  # something was sent upstream
        return GatewayError(502, str(exc), type="upstream_error", metadata=meta)
    return GatewayError(503, str(exc), type="service_unavailable", metadata=meta)


def error_for(exc: PolyrouteError) -> GatewayError:
    """The HTTP error for a polyroute error raised by a call."""
    meta: dict[str, Any] = {"attempts": _attempts(exc)} if exc.attempts else {}
    if isinstance(exc, InvalidRequest):
        return GatewayError(400, str(exc), type="invalid_request_error", param=exc.param, metadata=meta)
    if isinstance(exc, BudgetExceeded):
        return GatewayError(402, str(exc), type="insufficient_credits", metadata=meta)
    if isinstance(exc, RoutingError):
        return _routing(exc, meta)
    if isinstance(exc, StreamInterrupted):
        return GatewayError(502, str(exc), type="upstream_error", metadata=meta)
    if isinstance(exc, RateLimited):
        return GatewayError(429, str(exc), type="rate_limit_error", retry_after=exc.retry_after, metadata=meta)
    if isinstance(exc, (BadRequest, ContextLengthExceeded)):
        return GatewayError(400, str(exc), type="invalid_request_error", metadata=meta)
    if isinstance(exc, ContentFiltered):
        return GatewayError(403, str(exc), type="permission_error", metadata=meta)
    return GatewayError(502, str(exc), type="upstream_error", metadata=meta)
