"""Stream recovery, sans I/O: how to ask another endpoint to continue a broken answer.

When a stream breaks after the caller has read some of its text (cut, stalled, a malformed
frame, an in-band error), the request is sent again to the next candidate that can *continue*
an answer, with the delivered text as a final assistant message, in that endpoint's own way:

- ``prefill``: the assistant message as is (Anthropic's prefill; OpenRouter). Anthropic rejects
  trailing whitespace in it, so that is cut, and trimmed from the continuation's start.
- ``prefix``: ``"prefix": true`` on the assistant message (DeepSeek, Mistral).
- ``continue_final_message``: ``continue_final_message: true, add_generation_prompt: false`` in
  the body (vLLM).

An endpoint continues only if it declares a mode (``continuation:`` in its config; endpoints on
``api: anthropic`` default to ``prefill``). Only text is continued: an answer that carried tool
calls, or a request for structured output or several choices, is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from polyroute._request import ChatRequest
from polyroute.catalog._catalog import Endpoint, ProviderSpec

__all__ = ["MODES", "continuable", "continuation_mode", "continuation_request"]

MODES = ("prefill", "prefix", "continue_final_message")


def continuation_mode(endpoint: Endpoint, provider: ProviderSpec) -> str | None:
    """How ``endpoint`` continues a partial answer, or ``None`` if it cannot."""
    mode = endpoint.continuation
    if mode is None:
        return "prefill" if provider.api == "anthropic" else None
    return mode if mode in MODES else None


def continuable(request: ChatRequest) -> bool:
    """Whether an answer to ``request`` may be continued at all (plain text, one choice)."""
    params = request.params
    fmt = params.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") in ("json_schema", "json_object"):
        return False
    n = params.get("n")
    return n is None or n == 1


def continuation_request(request: ChatRequest, text: str, mode: str) -> tuple[ChatRequest, str]:
    """``request`` asking for the continuation of ``text`` in ``mode``, and the trailing
    whitespace cut from ``text`` (the continuation's start should not repeat it)."""
    prefill = text.rstrip() if mode == "prefill" else text
    message: dict[str, Any] = {"role": "assistant", "content": prefill}
    params = dict(request.params)
    if mode == "prefix":
        message["prefix"] = True
    elif mode == "continue_final_message":
        params["continue_final_message"] = True
        params["add_generation_prompt"] = False
    messages = [*request.messages, message]
    # messages_json: the encoded messages cached at validation no longer match
    return replace(request, messages=messages, params=params, hedge=False, messages_json=None), text[len(prefill) :]
