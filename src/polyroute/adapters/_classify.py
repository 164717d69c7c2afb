"""Classifying provider errors: by status first, then structured fields, text only as a last resort.

Context-length errors: the exact codes, then code/type words (``context``, ``too_long``...),
then a table of the phrasings providers document (tested against each); a 400 that mentions
tokens or length without matching is a :class:`~polyroute.errors.BadRequest` marked
``about_length``, tried on a larger declared context when one is left.

Shared by every adapter. ``retry_after()`` reads ``retry-after-ms`` / ``Retry-After`` (seconds or
an HTTP date). ``classify()`` maps an HTTP status plus the provider's error code and message to
the most specific :class:`~polyroute.errors.ProviderError`.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping

from polyroute.errors import (
    AuthenticationError,
    BadRequest,
    ContentFiltered,
    ContextLengthExceeded,
    MalformedResponse,
    ModelNotFound,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    ServerError,
)

__all__ = ["MAX_RETRY_AFTER", "classify", "retry_after"]

#: the longest wait a provider's Retry-After can ask for, in seconds (a day); the breaker then
#: holds an endpoint out for at most its ``max_cooldown``
MAX_RETRY_AFTER = 86_400.0

_CONTEXT_CODES = frozenset(
    {
        "context_length_exceeded",
        "string_above_max_length",
        "context_window_exceeded",
        "model_context_window_exceeded",
        "exceed_context_size_error",
        "prompt_too_long",
        "input_too_long",
    }
)
# Structured fields (code, type) whose words say "too long for the context": checked after the
# exact codes, before any wording. ``_`` and ``-`` separate the words.
_CONTEXT_FIELD_WORDS = ("context", "too_long", "max_length", "too_many_tokens", "token_limit", "tokens_limit")
_FILTER_CODES = frozenset({"content_filter", "content_policy_violation", "moderation_blocked"})
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "insufficient_credits", "billing_error"})
# The request was fine but the model's output was not (Groq's 400 ``tool_use_failed`` when the
# model generated an invalid tool call): sampling again, or another model, may well succeed.
_GENERATION_FAILED_CODES = frozenset({"tool_use_failed"})
# Last resort, used only when neither status nor code says it: phrases real providers use for
# an over-long prompt (OpenAI, Anthropic, Groq, Mistral, vLLM...). Covered by tests.
_CONTEXT_PHRASES = (
    "maximum context length",  # OpenAI, DeepSeek, vLLM, OpenRouter, Groq
    "context length",
    "context_length_exceeded",
    "context window",  # OpenAI Responses, Gemini wording variants
    "context size",  # llama.cpp
    "context limit",  # Anthropic (input + max_tokens)
    "prompt is too long",  # Anthropic, Fireworks
    "input is too long",  # Bedrock
    "too many tokens",  # Cohere
    "too many input tokens",
    "reduce the length",  # OpenAI, Groq, DeepSeek, vLLM
    "exceeds the maximum number of tokens",  # Gemini
    "maximum prompt length",  # xAI
    "maximum model length",  # vLLM >= 0.6
    "max_model_len",  # vLLM
    "too large for model",  # Mistral
    "`max_new_tokens` must be",  # Together / TGI: "`inputs` tokens + `max_new_tokens` must be <= 8193"
    "input token count",  # Gemini
    "input tokens exceed",  # OpenAI (newer models)
    "prompt too long",
    "input length exceeds",
)
# Wording about size: a 400 saying any of these without matching the above may still be about
# the context (wording we have not seen); it is tried on a larger context when one is left.
_LENGTH_WORDS = ("token", "length", "too long", "too large", "exceed", "context")


def _seconds(value: float) -> float | None:
    if math.isnan(value):
        return None
    return min(max(value, 0.0), MAX_RETRY_AFTER)


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the provider asked us to wait, from ``retry-after-ms`` or ``Retry-After``, between 0
    and :data:`MAX_RETRY_AFTER` (``inf``, ``1e400`` or a date in 2099 give the cap; ``NaN`` nothing).

    ``now`` is the wall-clock time (the router's clock) an HTTP date is measured from.
    """
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return _seconds(float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return _seconds(float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        stamp = when.timestamp()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return _seconds(stamp - (time.time() if now is None else now))


def _context_field(value: str | None) -> bool:
    """Whether a structured field (code, type) says the request is too long for the context."""
    if not value:
        return False
    if value in _CONTEXT_CODES:
        return True
    words = value.lower().replace("-", "_")
    return any(w in words for w in _CONTEXT_FIELD_WORDS)


def _is_context_error(code: str | None, error_type: str | None, message: str) -> bool:
    """Structured fields first (code, type), then the wording."""
    if _context_field(code) or _context_field(error_type):
        return True
    lowered = message.lower()
    return any(p in lowered for p in _CONTEXT_PHRASES)


def _about_length(message: str) -> bool:
    lowered = message.lower()
    return any(w in lowered for w in _LENGTH_WORDS)


def classify(
    status: int,
    message: str,
    *,
    code: str | int | None = None,
    error_type: str | None = None,
    retry_after_s: float | None = None,
    body: str | None = None,
) -> ProviderError:
    """The error for an HTTP ``status`` and the provider's error ``code``/``error_type``/``message``."""
    key = code if isinstance(code, str) else None
    etype = error_type or ""

    def make(cls: type[ProviderError]) -> ProviderError:
        return cls(message, status=status, code=code, retry_after=retry_after_s, body=body)

    if key in _QUOTA_CODES or etype in _QUOTA_CODES or status == 402:
        return make(QuotaExceeded)
    if status in (401, 403) or etype in ("authentication_error", "permission_error"):
        return make(AuthenticationError)
    if status == 429 or etype == "rate_limit_error":
        return make(RateLimited)
    if status == 404 or key == "model_not_found" or etype == "not_found_error":
        return make(ModelNotFound)
    if status == 408 or status >= 500 or etype in ("overloaded_error", "api_error", "server_error"):
        return make(ServerError)
    if key in _GENERATION_FAILED_CODES:
        return make(MalformedResponse)
    if key in _FILTER_CODES:
        return make(ContentFiltered)
    if status in (400, 413, 422) and _is_context_error(key, error_type, message):
        return make(ContextLengthExceeded)
    error = make(BadRequest)
    if status in (400, 413, 422) and _about_length(message):
        error.about_length = True
    return error
