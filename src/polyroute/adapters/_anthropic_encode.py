"""OpenAI Chat Completions request -> Anthropic Messages request body.

System and developer messages become ``system``; tool messages become ``tool_result`` blocks in
a user turn; assistant tool calls become ``tool_use`` blocks (and ``thinking_blocks`` we returned
earlier go back as they came, signatures included, so tool use with extended thinking works).
Consecutive turns of one role are merged, as the API wants. ``cache_control`` on content parts,
on a message (applied to its last block) or on a tool passes through untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from polyroute._request import ChatRequest
from polyroute.adapters._data_url import parse_data_url
from polyroute.adapters._openai_params import TRANSLATED, max_output_tokens, pass_through, stop_list, tool_arguments
from polyroute.catalog._catalog import Endpoint
from polyroute.errors import BadRequest

__all__ = ["DEFAULT_MAX_TOKENS", "THINKING_BUDGETS", "encode_request"]

#: ``max_tokens`` is required by the Messages API; used when neither the request nor the endpoint
#: (``max_output_tokens``) gives one
DEFAULT_MAX_TOKENS = 4096
#: ``reasoning_effort`` -> extended-thinking ``budget_tokens``
THINKING_BUDGETS = {"low": 1024, "medium": 2048, "high": 4096}

Block = dict[str, Any]


def _unsupported(message: str) -> BadRequest:
    return BadRequest(message, status=None, code="unsupported_content")


def _cache(part: Mapping[str, Any], block: Block) -> Block:
    control = part.get("cache_control")
    if control is not None:
        block["cache_control"] = control
    return block


def _image_block(url: str) -> Block:
    inline = parse_data_url(url)
    if inline is not None:
        return {"type": "image", "source": {"type": "base64", "media_type": inline.media_type, "data": inline.data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _part_block(part: Mapping[str, Any]) -> Block:
    ptype = part.get("type")
    if ptype in ("text", "refusal"):
        return _cache(part, {"type": "text", "text": part.get("text") or part.get("refusal") or ""})
    if ptype == "image_url":
        image = part.get("image_url") or {}
        return _cache(part, _image_block(str(image.get("url", ""))))
    if ptype == "file":
        file = part.get("file") or {}
        inline = parse_data_url(str(file.get("file_data", "")))
        if inline is None:
            raise _unsupported("Anthropic needs files inline: give 'file_data' as a base64 data: URL")
        source = {"type": "base64", "media_type": inline.media_type, "data": inline.data}
        return _cache(part, {"type": "document", "source": source})
    raise _unsupported(f"Anthropic does not accept {ptype!r} content parts")


def _blocks(content: Any) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [_part_block(p) for p in content if isinstance(p, Mapping)]


def _tool_use(call: Mapping[str, Any]) -> Block:
    name = (call.get("function") or {}).get("name")
    return {"type": "tool_use", "id": call.get("id"), "name": name, "input": tool_arguments(call)}


def _assistant_blocks(message: Mapping[str, Any]) -> list[Block]:
    blocks: list[Block] = [dict(b) for b in message.get("thinking_blocks") or () if isinstance(b, Mapping)]
    blocks += _blocks(message.get("content"))
    blocks += [_tool_use(c) for c in message.get("tool_calls") or () if isinstance(c, Mapping)]
    return blocks


def _tool_result(message: Mapping[str, Any]) -> Block:
    content = message.get("content")
    result: Any = content if isinstance(content, str) else _blocks(content)
    return {"type": "tool_result", "tool_use_id": message.get("tool_call_id"), "content": result}


def _append(turns: list[dict[str, Any]], role: str, blocks: list[Block], cache_control: Any) -> None:
    if cache_control is not None and blocks:
        blocks[-1] = {**blocks[-1], "cache_control": cache_control}
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _compact(turn: dict[str, Any]) -> dict[str, Any]:
    content = turn["content"]
    if len(content) == 1 and content[0].get("type") == "text" and set(content[0]) == {"type", "text"}:
        return {"role": turn["role"], "content": content[0]["text"]}
    return turn


def encode_messages(messages: Sequence[Mapping[str, Any]]) -> tuple[str | list[Block] | None, list[dict[str, Any]]]:
    """``(system, messages)`` for the Messages API."""
    system: list[Block] = []
    turns: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            system += _blocks(m.get("content"))
        elif role in ("tool", "function"):
            _append(turns, "user", [_tool_result(m)], m.get("cache_control"))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_blocks(m), m.get("cache_control"))
        else:
            _append(turns, "user", _blocks(m.get("content")), m.get("cache_control"))
    out_system: str | list[Block] | None = None
    if system:
        plain = all(set(b) == {"type", "text"} for b in system)
        out_system = "\n\n".join(b["text"] for b in system) if plain else system
    return out_system, [_compact(t) for t in turns if t["content"]]


def _tool(tool: Mapping[str, Any]) -> Block:
    fn = tool.get("function") or {}
    out: Block = {
        "name": fn.get("name"),
        "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
    }
    if fn.get("description"):
        out["description"] = fn["description"]
    return _cache(tool, out)


def _tool_choice(choice: Any, parallel: Any) -> Block | None:
    out: Block | None = None
    if choice == "auto":
        out = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        out = {"type": "none"}
    elif isinstance(choice, Mapping):
        name = (choice.get("function") or {}).get("name")
        out = {"type": "tool", "name": name}
    if parallel is False:
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out


def encode_request(endpoint: Endpoint, request: ChatRequest) -> dict[str, Any]:
    """The Messages API body for ``request`` at ``endpoint`` (``stream`` is set by the caller)."""
    params = request.params
    system, messages = encode_messages(request.messages)
    max_tokens = max_output_tokens(params) or endpoint.max_output_tokens or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {"model": endpoint.model, "max_tokens": max_tokens, "messages": messages}
    if system is not None:
        body["system"] = system
    budget = THINKING_BUDGETS.get(str(params.get("reasoning_effort")))
    if budget is not None and "thinking" not in params:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        body["max_tokens"] = max(max_tokens, budget + 1024)
    elif params.get("temperature") is not None:
        # OpenAI's range is 0-2, Anthropic's 0-1: the same "most random" end
        body["temperature"] = min(float(params["temperature"]), 1.0)
    if params.get("top_p") is not None:
        body["top_p"] = params["top_p"]
    stops = stop_list(params.get("stop"))
    if stops:
        body["stop_sequences"] = stops
    if params.get("tools"):
        body["tools"] = [_tool(t) for t in params["tools"]]
    choice = _tool_choice(params.get("tool_choice"), params.get("parallel_tool_calls"))
    if choice is not None and params.get("tools"):
        body["tool_choice"] = choice
    if isinstance(params.get("user"), str):
        body["metadata"] = {"user_id": params["user"]}
    pass_through(body, params, TRANSLATED, endpoint.extra_body)  # dropped if not translated above
    return body
