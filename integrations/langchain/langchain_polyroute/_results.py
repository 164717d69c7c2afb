"""polyroute responses to LangChain results: messages, usage and routing metadata.

Every message carries ``response_metadata`` with ``model_name`` (the model that served the call,
after any fallback), ``model_provider`` (``"polyroute"``), ``provider`` (the provider that served
it), ``endpoint_model``, ``request_id``, ``attempts``, ``fallbacks``, ``cost`` and
``finish_reason``. ``cost`` is the exact total in USD over every attempt, as a decimal string
(``Decimal(meta["cost"])``), or ``None`` when the serving endpoint has no price. In a stream all of
it, with ``usage_metadata``, arrives once, on the final chunk. Whole responses also carry the
provider's completion ``id`` (and ``system_fingerprint`` when sent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, AIMessageChunk, InvalidToolCall, ToolCall, ToolCallChunk
from langchain_core.messages.ai import InputTokenDetails, OutputTokenDetails, UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.output_parsers.openai_tools import make_invalid_tool_call, parse_tool_call
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from polyroute import ChatCompletion, ChatCompletionChunk, ChatMessage, Delta, Route, Usage

__all__ = ["MODEL_PROVIDER", "ChunkConverter", "chat_result", "combine_llm_outputs", "route_metadata", "usage_metadata"]

JSON = dict[str, Any]

MODEL_PROVIDER = "polyroute"
"""``response_metadata["model_provider"]`` on every message: the LangChain integration."""


def usage_metadata(usage: Usage) -> UsageMetadata:
    """LangChain's usage record, with the cache, audio and reasoning details the provider reported."""
    out = UsageMetadata(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )
    inputs = _token_details(
        usage.prompt_tokens_details,
        cache_read=(usage.cached_tokens, ("cached_tokens",)),
        cache_creation=(usage.cache_write_tokens, ("cache_write_tokens", "cache_creation_tokens")),
    )
    if inputs:
        out["input_token_details"] = cast(InputTokenDetails, inputs)
    outputs = _token_details(usage.completion_tokens_details, reasoning=(usage.reasoning_tokens, ("reasoning_tokens",)))
    if outputs:
        out["output_token_details"] = cast(OutputTokenDetails, outputs)
    return out


def _token_details(reported: Mapping[str, Any] | None, **counts: tuple[int, tuple[str, ...]]) -> dict[str, int]:
    """LangChain's token details: the audio tokens of the provider's ``*_tokens_details``, then each
    of ``counts`` (``name=(tokens, fields)``) whose fields the provider reported."""
    reported = reported or {}
    out: dict[str, int] = {}
    if isinstance(reported.get("audio_tokens"), int):
        out["audio"] = reported["audio_tokens"]
    for name, (tokens, fields) in counts.items():
        if any(field in reported for field in fields):
            out[name] = tokens
    return out


def route_metadata(route: Route | None, model: str) -> JSON:
    """The routing part of ``response_metadata``: who served the call, every attempt, the cost.

    ``model`` is the model the response named, used only if the route is missing.
    """
    if route is None:
        return {"model_name": model, "model_provider": MODEL_PROVIDER}
    return {
        "model_name": route.model,
        "model_provider": MODEL_PROVIDER,
        "provider": route.provider,
        "endpoint_model": route.endpoint_model,
        "request_id": route.request_id,
        "attempts": [attempt.model_dump(mode="json") for attempt in route.attempts],
        "fallbacks": route.fallbacks,
        "cost": None if route.cost is None else str(route.cost),
    }


def _tool_calls(message: ChatMessage) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for raw in message.tool_calls or ():
        data = raw.model_dump()
        data["function"].setdefault("name", "")
        data["function"].setdefault("arguments", "")
        try:
            parsed = parse_tool_call(data, return_id=True)
        except OutputParserException as exc:
            invalid.append(make_invalid_tool_call(data, str(exc)))
            continue
        if parsed is None:
            continue
        if not isinstance(parsed["args"], dict):
            invalid.append(make_invalid_tool_call(data, "the arguments are not a JSON object"))
            continue
        calls.append(ToolCall(name=parsed["name"], args=parsed["args"], id=parsed.get("id"), type="tool_call"))
    return calls, invalid


def _extra_kwargs(reasoning: str | None, extra: JSON) -> JSON:
    out: JSON = {}
    if reasoning:
        out["reasoning_content"] = reasoning
    if extra.get("refusal"):
        out["refusal"] = extra["refusal"]
    return out


def chat_result(resp: ChatCompletion) -> ChatResult:
    """A whole polyroute response as a LangChain :class:`ChatResult` (one generation per choice)."""
    route = resp.route
    usage = route.usage if route is not None and route.usage is not None else resp.usage
    meta = route_metadata(route, resp.model)
    # the provider's completion id goes in the metadata, not in ``message.id``: ids from some
    # OpenAI-compatible servers are empty or repeat, and LangGraph merges messages by id
    meta["id"] = resp.id
    if resp.system_fingerprint is not None:
        meta["system_fingerprint"] = resp.system_fingerprint
    generations: list[ChatGeneration] = []
    for choice in resp.choices:
        calls, invalid = _tool_calls(choice.message)
        info: JSON = {"finish_reason": choice.finish_reason}
        if choice.logprobs is not None:
            info["logprobs"] = choice.logprobs
        message = AIMessage(
            content=choice.message.content or "",
            additional_kwargs=_extra_kwargs(choice.message.reasoning, choice.message.extra),
            tool_calls=calls,
            invalid_tool_calls=invalid,
            usage_metadata=usage_metadata(usage) if usage is not None else None,
            response_metadata={**meta, **info},
        )
        generations.append(ChatGeneration(message=message, generation_info=info))
    llm_output: JSON = {"model_name": meta["model_name"], "model_provider": MODEL_PROVIDER}
    if usage is not None:
        llm_output["token_usage"] = usage.model_dump()
    if route is not None:
        llm_output["cost"] = meta["cost"]
    return ChatResult(generations=generations, llm_output=llm_output)


def _add_usage(total: JSON, usage: JSON) -> JSON:
    out = dict(total)
    for key, value in usage.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            current = out.get(key, 0)
            out[key] = (current if isinstance(current, int) else 0) + value
        elif isinstance(value, dict):
            current = out.get(key)
            out[key] = _add_usage(current if isinstance(current, dict) else {}, value)
    return out


def combine_llm_outputs(outputs: Sequence[JSON | None]) -> JSON:
    """One ``llm_output`` for a batch of calls: token counts and cost summed.

    ``cost`` is ``None`` if any call's cost is unknown; ``model_name`` is ``None`` when the calls
    were served by different models.
    """
    present = [o for o in outputs if o]
    usage: JSON = {}
    cost: Decimal | None = Decimal(0)
    names = set()
    for output in present:
        usage = _add_usage(usage, output.get("token_usage") or {})
        names.add(output.get("model_name"))
        call_cost = output.get("cost")
        cost = None if cost is None or call_cost is None else cost + Decimal(call_cost)
    return {
        "token_usage": usage,
        "model_name": names.pop() if len(names) == 1 else None,
        "model_provider": MODEL_PROVIDER,
        "cost": None if cost is None or not present else str(cost),
    }


def _tool_call_chunks(delta: Delta) -> list[ToolCallChunk]:
    return [
        tool_call_chunk(
            name=tc.function.name,
            args=tc.function.arguments,
            id=tc.id,
            index=tc.index if tc.index is not None else position,
        )
        for position, tc in enumerate(delta.tool_calls or ())
    ]


class ChunkConverter:
    """Turns one stream's chunks into LangChain chunks.

    Keys must appear on one chunk only (LangChain concatenates strings when it adds chunks), so
    the finish reason is remembered and reported with the route, usage and cost on the final chunk.
    """

    __slots__ = ("_finish_reason",)

    def __init__(self) -> None:
        self._finish_reason: str | None = None

    def convert(self, chunk: ChatCompletionChunk) -> ChatGenerationChunk:
        """The LangChain chunk for one polyroute chunk."""
        content = ""
        calls: list[ToolCallChunk] = []
        extra: JSON = {}
        if chunk.choices:
            choice = chunk.choices[0]
            delta = choice.delta
            content = delta.content or ""
            calls = _tool_call_chunks(delta)
            extra = _extra_kwargs(delta.reasoning, delta.extra)
            if choice.finish_reason is not None:
                self._finish_reason = choice.finish_reason
        message = AIMessageChunk(
            content=content,
            additional_kwargs=extra,
            tool_call_chunks=calls,
            response_metadata={"model_provider": MODEL_PROVIDER},
        )
        if chunk.route is None:
            return ChatGenerationChunk(message=message)
        route = chunk.route
        usage = route.usage if route.usage is not None else chunk.usage
        if usage is not None:
            message.usage_metadata = usage_metadata(usage)
        info: JSON = {"finish_reason": self._finish_reason}
        message.response_metadata.update(route_metadata(route, chunk.model))
        message.response_metadata.update(info)
        message.chunk_position = "last"
        return ChatGenerationChunk(message=message, generation_info=info)
