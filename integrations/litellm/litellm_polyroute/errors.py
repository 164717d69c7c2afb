"""polyroute's errors as LiteLLM's exception types.

LiteLLM decides retries, deployment cooldowns and fallbacks by exception type, so every
polyroute error leaves the handler as the LiteLLM exception a native provider would have raised,
with the polyroute error as ``__cause__`` (its ``attempts`` say what was tried)::

    polyroute error                          LiteLLM exception
    InvalidRequest                           BadRequestError              400
    BadRequest                               BadRequestError              400
    ContextLengthExceeded                    ContextWindowExceededError   400
    ContentFiltered                          ContentPolicyViolationError  400
    AuthenticationError (401)                AuthenticationError          401
    AuthenticationError (403)                PermissionDeniedError        403
    ModelNotFound                            NotFoundError                404
    RateLimited                              RateLimitError               429  (Retry-After kept)
    QuotaExceeded                            RateLimitError               429  (as LiteLLM maps insufficient_quota)
    BudgetExceeded                           PaymentRequiredError         402
    Timeout, DeadlineExceeded                Timeout                      408
    ConnectError, ConnectionLost,
    IncompleteStream                         APIConnectionError           500
    ServerError 503/529                      ServiceUnavailableError      503
    ServerError (other), MalformedResponse   InternalServerError          500
    NoEndpointAvailable                      the mapping of its last underlying error, else
                                             ServiceUnavailableError      503
    StreamInterrupted                        the mapping of the error that ended the stream
    ConfigError, anything else               InternalServerError          500
"""

from __future__ import annotations

import httpx
from litellm import exceptions as lx

from polyroute import errors as pe

__all__ = ["to_litellm_error"]

_OVERLOADED = frozenset({503, 529})


def _response(status: int, retry_after: float | None = None) -> httpx.Response:
    """A stand-in HTTP response carrying the status (and Retry-After) LiteLLM's retry logic reads."""
    headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
    request = httpx.Request("POST", "http://polyroute.invalid/v1/chat/completions")
    return httpx.Response(status, headers=headers, request=request)


def _payment_required(message: str, *, model: str, llm_provider: str) -> Exception:
    """402. LiteLLM's ``BudgetExceededError`` is not an API error: LiteLLM would rewrap it as a
    generic 400, so a budget refusal is the ``PaymentRequiredError`` OpenRouter's 402 maps to."""
    payment_required = getattr(lx, "PaymentRequiredError", None)  # not in older LiteLLM releases
    if payment_required is None:
        return lx.BadRequestError(message=message, model=model, llm_provider=llm_provider, response=_response(402))
    error: Exception = payment_required(message=message, model=model, llm_provider=llm_provider)
    return error


def to_litellm_error(error: pe.PolyrouteError, *, model: str, llm_provider: str = "polyroute") -> Exception:
    """The LiteLLM exception for a polyroute error (see the module docstring for the table).

    The caller raises it ``from error``. A :class:`~polyroute.errors.NoEndpointAvailable` is
    mapped by its last underlying error, a :class:`~polyroute.errors.StreamInterrupted` by the
    error that ended the stream; both keep their own message (every attempt, or what had been
    delivered). So a call whose every endpoint was rate limited is a ``RateLimitError`` to
    LiteLLM's router.
    """
    message = str(error)
    cause = error.error if isinstance(error, pe.StreamInterrupted) else error
    if isinstance(cause, pe.NoEndpointAvailable):
        last = cause.errors[-1] if cause.errors else None
        if isinstance(last, pe.ProviderError):
            return _provider_error(last, message, model=model, llm_provider=llm_provider)
        return lx.ServiceUnavailableError(
            message=message, llm_provider=llm_provider, model=model, response=_response(503)
        )
    if isinstance(cause, pe.DeadlineExceeded):
        return lx.Timeout(message=message, model=model, llm_provider=llm_provider)
    if isinstance(cause, pe.ProviderError):
        return _provider_error(cause, message, model=model, llm_provider=llm_provider)
    if isinstance(cause, pe.InvalidRequest):
        return lx.BadRequestError(message=message, model=model, llm_provider=llm_provider, response=_response(400))
    if isinstance(cause, pe.BudgetExceeded):
        return _payment_required(message, model=model, llm_provider=llm_provider)
    return lx.InternalServerError(message=message, llm_provider=llm_provider, model=model, response=_response(500))


def _provider_error(error: pe.ProviderError, message: str, *, model: str, llm_provider: str) -> Exception:
    """The LiteLLM exception for one endpoint's failure, by type, then by status."""
    if isinstance(error, pe.ContextLengthExceeded):
        return lx.ContextWindowExceededError(
            message=message, model=model, llm_provider=llm_provider, response=_response(400)
        )
    if isinstance(error, pe.ContentFiltered):
        return lx.ContentPolicyViolationError(
            message=message, model=model, llm_provider=llm_provider, response=_response(400)
        )
    if isinstance(error, pe.BadRequest):
        return lx.BadRequestError(message=message, model=model, llm_provider=llm_provider, response=_response(400))
    if isinstance(error, pe.AuthenticationError):
        if error.status == 403:
            return lx.PermissionDeniedError(
                message=message, llm_provider=llm_provider, model=model, response=_response(403)
            )
        return lx.AuthenticationError(message=message, llm_provider=llm_provider, model=model, response=_response(401))
    if isinstance(error, pe.ModelNotFound):
        return lx.NotFoundError(message=message, model=model, llm_provider=llm_provider, response=_response(404))
    if isinstance(error, (pe.RateLimited, pe.QuotaExceeded)):
        return lx.RateLimitError(
            message=message, llm_provider=llm_provider, model=model, response=_response(429, error.retry_after)
        )
    if isinstance(error, pe.Timeout):
        return lx.Timeout(message=message, model=model, llm_provider=llm_provider)
    if isinstance(error, (pe.TransportError, pe.IncompleteStream)):
        return lx.APIConnectionError(message=message, llm_provider=llm_provider, model=model)
    if isinstance(error, pe.ServerError) and error.status in _OVERLOADED:
        return lx.ServiceUnavailableError(
            message=message, llm_provider=llm_provider, model=model, response=_response(503)
        )
    return lx.InternalServerError(message=message, llm_provider=llm_provider, model=model, response=_response(500))
