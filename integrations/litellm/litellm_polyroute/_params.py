"""LiteLLM's request parameters as keyword arguments for ``polyroute.Router.completion``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

__all__ = ["router_params"]

#: keys LiteLLM leaves in ``optional_params`` that steer LiteLLM's own call, not the request body
_NOT_FORWARDED = frozenset({"stream", "stream_options", "max_retries"})


def _seconds(timeout: float | httpx.Timeout | None) -> float | None:
    if isinstance(timeout, httpx.Timeout):
        return timeout.read
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
        return float(timeout)
    return None


def router_params(
    optional_params: Mapping[str, Any],
    *,
    timeout: float | httpx.Timeout | None,
    configured_deadline: float | None,
) -> dict[str, Any]:
    """The keyword arguments for one routed call.

    ``optional_params`` holds the OpenAI parameters LiteLLM accepted (``temperature``, ``tools``...)
    and any extra keyword the caller gave, so polyroute's routing options (``models``,
    ``provider``, ``session_id``, ``tags``...) reach the router unchanged. ``stream`` and
    ``stream_options`` are not forwarded (the handler reads the usage from the route, always),
    nor LiteLLM's ``max_retries`` (polyroute retries by its own config). LiteLLM's request
    ``timeout`` becomes polyroute's overall deadline, unless the router's configured deadline is
    shorter.
    """
    params = {key: value for key, value in optional_params.items() if key not in _NOT_FORWARDED}
    if "timeout" not in params:
        seconds = _seconds(timeout)
        if seconds is not None:
            params["timeout"] = seconds if configured_deadline is None else min(seconds, configured_deadline)
    return params
