"""Is a decoded reply real? Type and range checks on what an adapter produced.

Adapters map a provider's JSON onto our types without trusting it; these checks then refuse what
no real provider sends: wrong types anywhere (``choices: [1]``, ``content: 5``, a tool call that
is a number), token counts that are negative, fractional, strings or absurd (``2**64 - 1``), a
provider-reported cost that is not a finite, non-negative, plausible number. Each is a
:class:`~polyroute.errors.MalformedResponse`, so the call fails over and no cost is ever
negative, NaN or absurd. :func:`decoding` turns an adapter tripping over such a body (an
``AttributeError`` deep in a decoder) into the same error.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

from polyroute._types import ChatCompletion, ChatCompletionChunk, ToolCall, Usage
from polyroute.errors import MalformedResponse

__all__ = [
    "DECODE_ERRORS",
    "MAX_COST_USD",
    "MAX_TOKENS",
    "check_chunk",
    "check_completion",
    "check_cost",
    "check_raw_usage",
    "check_usage",
    "decoding",
    "token_count",
    "wrong_shape",
]

#: more tokens than any call can really use (context windows are a few million at most)
MAX_TOKENS = 2**31 - 1
#: a provider-reported cost above this, in USD for one call, cannot be real
MAX_COST_USD = 100_000
#: what a decoder may trip over on a body of the wrong shape
DECODE_ERRORS = (AttributeError, TypeError, ValueError, KeyError, IndexError, ArithmeticError, RecursionError)


def _bad(message: str) -> MalformedResponse:
    return MalformedResponse(message, status=200)


def wrong_shape(exc: BaseException, what: str = "response") -> MalformedResponse:
    """The error for a decoder that tripped over a body of the wrong shape (one of :data:`DECODE_ERRORS`)."""
    return _bad(f"{what} has the wrong shape ({type(exc).__name__}: {str(exc)[:200]})")


@contextmanager
def decoding(what: str = "response") -> Iterator[None]:
    """Run a decoder: an exception from a body of the wrong shape becomes :class:`MalformedResponse`.
    (Per stream chunk, where a context manager costs too much, use ``try`` with :func:`wrong_shape`.)"""
    try:
        yield
    except DECODE_ERRORS as exc:
        raise wrong_shape(exc, what) from exc


def _count(value: Any, name: str) -> None:
    if type(value) is not int or not 0 <= value <= MAX_TOKENS:
        raise _bad(f"usage.{name} is not a plausible token count: {str(value)[:40]!r}")


def token_count(value: Any, name: str) -> int:
    """A token count a provider reported (``None``: not reported, 0); :class:`MalformedResponse`
    for anything but an integer in ``[0, MAX_TOKENS]``."""
    if value is None:
        return 0
    _count(value, name)
    return int(value)


def _details(details: Any, name: str, keys: tuple[str, ...]) -> None:
    if details is None:
        return
    if not isinstance(details, Mapping):
        raise _bad(f"usage.{name} is not an object")
    for key in keys:
        value = details.get(key)
        if value is not None:
            _count(value, f"{name}.{key}")


def _provider_cost(cost: Any) -> None:
    if isinstance(cost, bool) or not isinstance(cost, (int, float, str)):
        raise _bad(f"usage.cost is not a number: {str(cost)[:40]!r}")
    if isinstance(cost, float) and not math.isfinite(cost):
        raise _bad("usage.cost is not a finite number")
    try:
        value = Decimal(cost) if isinstance(cost, str) else Decimal(repr(cost))
    except (InvalidOperation, ValueError):
        raise _bad(f"usage.cost is not a number: {str(cost)[:40]!r}") from None
    if not value.is_finite() or not 0 <= value <= MAX_COST_USD:
        raise _bad(f"usage.cost is not a plausible cost: {str(cost)[:40]!r}")


def check_cost(cost: Any) -> None:
    """A provider-reported cost (``usage.cost``) is a finite number from 0 to :data:`MAX_COST_USD`;
    else :class:`MalformedResponse`."""
    _provider_cost(cost)


def check_usage(usage: Usage) -> None:
    """Token counts are integers in ``[0, MAX_TOKENS]``; a reported cost is a plausible number."""
    p, c, t = usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
    if (
        not (type(p) is int and type(c) is int and type(t) is int and 0 <= p <= MAX_TOKENS and 0 <= c <= MAX_TOKENS)
        or not 0 <= t <= MAX_TOKENS
    ):
        _count(p, "prompt_tokens")
        _count(c, "completion_tokens")
        _count(t, "total_tokens")
    if usage.prompt_tokens_details is None and usage.completion_tokens_details is None and not usage.extra:
        return
    _details(
        usage.prompt_tokens_details,
        "prompt_tokens_details",
        ("cached_tokens", "cache_write_tokens", "cache_creation_tokens"),
    )
    _details(usage.completion_tokens_details, "completion_tokens_details", ("reasoning_tokens",))
    extra = usage.extra
    if extra:
        cost = extra.get("cost")
        if cost is not None:
            _provider_cost(cost)


_COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")


def check_raw_usage(raw: Any) -> None:
    """The counts as the provider sent them (``Usage.from_dict`` reads a wrong type as 0)."""
    if not isinstance(raw, Mapping):
        raise _bad("usage is not an object")
    for name in _COUNTS:
        value = raw.get(name)
        if value is not None and (type(value) is not int or not 0 <= value <= MAX_TOKENS):
            _count(value, name)


def _tool_calls(calls: Any, where: str) -> None:
    if calls is None:
        return
    if not isinstance(calls, list):
        raise _bad(f"{where}.tool_calls is not a list")
    for call in calls:
        if not isinstance(call, ToolCall):
            raise _bad(f"{where}.tool_calls holds a {type(call).__name__}")
        fn = call.function
        if not (fn.name is None or isinstance(fn.name, str)) or not (
            fn.arguments is None or isinstance(fn.arguments, str)
        ):
            raise _bad(f"{where}.tool_calls[].function has a name or arguments that are not strings")
        if not (call.id is None or isinstance(call.id, str)) or not (call.index is None or type(call.index) is int):
            raise _bad(f"{where}.tool_calls[] has an id or index of the wrong type")


def _text(value: Any, where: str) -> None:
    if value is not None and not isinstance(value, str):
        raise _bad(f"{where} is a {type(value).__name__}, not text")


def check_completion(resp: ChatCompletion) -> ChatCompletion:
    """``resp`` if every field has its type and the usage is plausible; else :class:`MalformedResponse`."""
    choices = resp.choices
    if not isinstance(choices, list) or not choices:
        raise _bad("response has no choices")
    for choice in choices:
        message = choice.message
        content, reason = message.content, choice.finish_reason
        if not (content is None or type(content) is str) or not (reason is None or type(reason) is str):
            _text(content, "message.content")
            _text(reason, "finish_reason")
        if type(message.role) is not str:
            _text(message.role, "message.role")
        if message.tool_calls is not None:
            _tool_calls(message.tool_calls, "message")
    if resp.usage is not None:
        check_usage(resp.usage)
    return resp


def check_chunk(chunk: ChatCompletionChunk) -> ChatCompletionChunk:
    """``chunk`` if every field has its type and any usage is plausible; else :class:`MalformedResponse`."""
    for choice in chunk.choices:
        delta = choice.delta
        content = delta.content
        if content is not None and type(content) is not str:
            raise _bad(f"delta.content is a {type(content).__name__}, not text")
        if delta.role is not None and type(delta.role) is not str:
            raise _bad("delta.role is not text")
        if choice.finish_reason is not None and type(choice.finish_reason) is not str:
            raise _bad("finish_reason is not text")
        if delta.tool_calls is not None:
            _tool_calls(delta.tool_calls, "delta")
    if chunk.usage is not None:
        check_usage(chunk.usage)
    return chunk
