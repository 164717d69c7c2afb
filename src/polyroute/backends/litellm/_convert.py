"""LiteLLM's ``ModelResponse`` and stream chunks -> our :class:`ChatCompletion` and chunks.

LiteLLM's objects dump to OpenAI's shape plus bookkeeping of its own (``provider_specific_fields``,
``citations``, ``function_call: null``, ``audio: null``...). Only OpenAI's fields, and the
reasoning fields callers read (``reasoning_content``, ``thinking_blocks``), are kept; ``null``
values are dropped where OpenAI omits the key, so a response through LiteLLM looks like one
from any other provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from polyroute._types import ChatCompletion, ChatCompletionChunk
from polyroute.errors import MalformedResponse

if TYPE_CHECKING:
    from polyroute.embeddings._types import EmbeddingResponse

__all__ = ["chunk_from_litellm", "completion_from_litellm", "embedding_from_litellm"]

_TOP = ("id", "object", "created", "model", "system_fingerprint", "choices", "usage")
_MESSAGE = ("role", "content", "tool_calls", "refusal", "reasoning_content", "thinking_blocks", "annotations")
_USAGE = ("prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "completion_tokens_details")
_TOOL_CALL = ("index", "id", "type", "function")


def _dump(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        data = dump()
        if isinstance(data, dict):
            return data
    raise MalformedResponse(f"LiteLLM returned {type(obj).__name__}, not a response object")


def _pick(data: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: data[k] for k in keys if data.get(k) is not None}


def _tool_calls(calls: Any) -> list[dict[str, Any]] | None:
    if not calls:
        return None
    out = []
    for call in calls:
        c = _pick(_dump(call), _TOOL_CALL)
        if isinstance(c.get("function"), Mapping):
            c["function"] = _pick(c["function"], ("name", "arguments"))
        out.append(c)
    return out


def _message(data: Mapping[str, Any], *, delta: bool) -> dict[str, Any]:
    out = _pick(data, _MESSAGE)
    calls = _tool_calls(data.get("tool_calls"))
    if calls is None:
        out.pop("tool_calls", None)
    else:
        out["tool_calls"] = calls
    if not delta:
        out.setdefault("role", "assistant")
        out.setdefault("content", None)
    return out


def _usage(data: Any) -> dict[str, Any] | None:
    if data is None:
        return None
    usage = _pick(_dump(data), _USAGE)
    for key in ("prompt_tokens_details", "completion_tokens_details"):
        if isinstance(usage.get(key), Mapping):
            usage[key] = {k: v for k, v in usage[key].items() if v is not None}
    return usage


def _normalise(data: Mapping[str, Any], field: str) -> dict[str, Any]:
    out = _pick(data, _TOP)
    choices = []
    for choice in data.get("choices") or ():
        c = _dump(choice)
        entry: dict[str, Any] = {
            "index": c.get("index", 0),
            field: _message(_dump(c.get(field) or {}), delta=field == "delta"),
            "finish_reason": c.get("finish_reason"),
            "logprobs": c.get("logprobs"),
        }
        choices.append(entry)
    out["choices"] = choices
    usage = _usage(data.get("usage"))
    if usage:
        out["usage"] = usage
    else:
        out.pop("usage", None)
    return out


def completion_from_litellm(response: Any) -> ChatCompletion:
    """Our :class:`ChatCompletion` for LiteLLM's ``ModelResponse``."""
    data = _normalise(_dump(response), "message")
    if not data["choices"]:
        raise MalformedResponse("LiteLLM returned a response without choices", status=200)
    return ChatCompletion.from_dict(data)


def chunk_from_litellm(chunk: Any) -> ChatCompletionChunk:
    """Our :class:`ChatCompletionChunk` for one of LiteLLM's stream chunks."""
    return ChatCompletionChunk.from_dict(_normalise(_dump(chunk), "delta"))


def embedding_from_litellm(response: Any, default_model: str) -> EmbeddingResponse:
    """LiteLLM's ``EmbeddingResponse`` (OpenAI's shape) -> ours."""
    from polyroute.adapters._embeddings import openai_embeddings

    data = _dump(response)
    items = data.get("data")
    if isinstance(items, list):
        data["data"] = [_dump(item) if not isinstance(item, Mapping) else item for item in items]
    usage = data.get("usage")
    if usage is not None and not isinstance(usage, Mapping):
        data["usage"] = _dump(usage)
    return openai_embeddings(data, default_model)
