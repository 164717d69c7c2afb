"""Reading a provider's JSON body: an object, or :class:`~polyroute.errors.MalformedResponse`."""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.errors import InvalidRequest, MalformedResponse

__all__ = ["body_text", "encode_body", "json_object", "maybe_json"]

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


def encode_body(body: Any) -> bytes:
    """An outgoing request body as JSON; :class:`InvalidRequest` (never anything else) if JSON cannot carry it.

    Requests are validated before they reach an adapter, so this is the last line of defence:
    an endpoint's own ``extra_body`` or a translation that produced something unencodable.
    """
    try:
        return orjson.dumps(body)
    except (TypeError, ValueError) as exc:  # orjson.JSONEncodeError is a TypeError
        raise InvalidRequest(f"the request body cannot be sent as JSON: {str(exc)[:200]}") from None
