"""LiteLLM's exceptions mapped onto ours, by type, so that failover treats them like any other.

The most specific LiteLLM class decides; where its class is generic (``APIError``), or a 429 might
be an exhausted quota rather than a rate limit, the status and the provider's structured error
``code``/``type`` decide through :func:`~polyroute.adapters._classify.classify`, as for our own
adapters. Exceptions that are not LiteLLM's are not ours to translate: they propagate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polyroute.adapters._classify import classify, retry_after
from polyroute.errors import (
    AuthenticationError,
    BadRequest,
    ConnectError,
    ContentFiltered,
    ContextLengthExceeded,
    ModelNotFound,
    ProviderError,
    QuotaExceeded,
    ReadTimeout,
    ServerError,
)

__all__ = ["map_litellm_error"]

# (LiteLLM exception class name, our class), most specific first: the first isinstance match wins.
_BY_TYPE: tuple[tuple[str, type[ProviderError]], ...] = (
    ("ContextWindowExceededError", ContextLengthExceeded),
    ("ContentPolicyViolationError", ContentFiltered),
    ("AuthenticationError", AuthenticationError),
    ("PermissionDeniedError", AuthenticationError),
    ("NotFoundError", ModelNotFound),
    ("PaymentRequiredError", QuotaExceeded),
    ("Timeout", ReadTimeout),
    ("BadRequestError", BadRequest),
    ("UnprocessableEntityError", BadRequest),
    ("ServiceUnavailableError", ServerError),
    ("InternalServerError", ServerError),
    ("BadGatewayError", ServerError),
    ("APIConnectionError", ConnectError),
)


def _headers(exc: BaseException) -> Mapping[str, str]:
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    return headers if isinstance(headers, Mapping) else {}


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    if isinstance(status, str) and status.isdigit():
        return int(status)
    return None


def _body_fields(exc: BaseException) -> tuple[str | None, str | None]:
    body: Any = getattr(exc, "body", None)
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        body = body["error"]
    if not isinstance(body, Mapping):
        return None, None
    code, etype = body.get("code"), body.get("type")
    return (code if isinstance(code, str) else None), (etype if isinstance(etype, str) else None)


def _message(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    return message if isinstance(message, str) and message else str(exc) or type(exc).__name__


def map_litellm_error(exc: BaseException, exceptions: Any) -> ProviderError | None:
    """Our error for LiteLLM's ``exc`` (``exceptions`` is the ``litellm.exceptions`` module);
    ``None`` if ``exc`` is not a LiteLLM or OpenAI SDK error."""
    status = _status(exc)
    delay = retry_after(_headers(exc))
    message = _message(exc)
    code, etype = _body_fields(exc)
    if isinstance(exc, exceptions.RateLimitError):
        # a 429 may be "out of quota" (not retryable) rather than "slow down": the body says which
        return classify(429, message, code=code, error_type=etype, retry_after_s=delay)
    for name, ours in _BY_TYPE:
        cls = getattr(exceptions, name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return ours(message, status=status, retry_after=delay, code=code or etype)
    sdk = getattr(exceptions, "openai", None)  # LiteLLM's exceptions subclass the openai SDK's
    base = getattr(sdk, "OpenAIError", None)
    if isinstance(base, type) and isinstance(exc, base):
        return classify(status or 500, message, code=code, error_type=etype, retry_after_s=delay)
    return None
