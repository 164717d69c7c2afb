"""Reading a provider's JSON body: an object, or :class:`~polyroute.errors.MalformedResponse`."""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.errors import MalformedResponse

__all__ = ["body_text", "json_object", "maybe_json"]

_MAX_BODY = 2000


def body_text(body: bytes) -> str:
    """The start of ``body`` as text, for error messages and ``ProviderError.body``."""
    return body[:_MAX_BODY].decode("utf-8", "replace")


def json_object(body: bytes, *, what: str = "response") -> dict[str, Any]:
    """``body`` parsed as a JSON object; :class:`MalformedResponse` if it is not one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponse(f"{what} is not JSON: {exc}", status=200, body=body_text(body)) from exc
    if not isinstance(data, dict):
        raise MalformedResponse(f"{what} is not a JSON object", status=200, body=body_text(body))
    return data


def maybe_json(body: bytes) -> Any:
    """``body`` parsed as JSON, or ``None`` when it is empty or not JSON (error bodies)."""
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
