"""OpenAI Chat Completions request -> Gemini ``generateContent`` request body.

System and developer messages become ``systemInstruction``; assistant turns are ``model``
contents whose tool calls are ``functionCall`` parts (with the ``thoughtSignature`` Gemini gave
them, carried in the tool call's ``extra_content.google.thought_signature`` as Google's own
OpenAI-compatible endpoint does); tool messages are ``functionResponse`` parts, named after the
call they answer. Sampling parameters go to ``generationConfig``; JSON Schemas are sent as
``parametersJsonSchema`` / ``responseJsonSchema``, which take standard JSON Schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from polyroute._request import ChatRequest
from polyroute.adapters._data_url import guess_media_type, parse_data_url
from polyroute.adapters._openai_params import TRANSLATED, max_output_tokens, pass_through, stop_list, tool_arguments
from polyroute.catalog._catalog import Endpoint
from polyroute.errors import BadRequest

__all__ = ["THINKING_BUDGETS", "encode_request", "thought_signature"]

#: ``reasoning_effort`` -> ``thinkingConfig.thinkingBudget`` (Google's mapping for its OpenAI endpoint)
THINKING_BUDGETS = {"none": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": 24576}
_HANDLED = TRANSLATED | {"generationConfig"}
_GENERATION = {
    "temperature": "temperature",
    "top_p": "topP",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "logprobs": "responseLogprobs",
    "top_logprobs": "logprobs",
}

Part = dict[str, Any]


def thought_signature(call: Mapping[str, Any]) -> str | None:
    """The Gemini thought signature an OpenAI-shaped tool call carries, if any."""
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, Mapping) else None
    sig = google.get("thought_signature") if isinstance(google, Mapping) else None
    return sig if isinstance(sig, str) else None


def _file_part(url: str, default_type: str) -> Part:
    inline = parse_data_url(url)
    if inline is not None:
        return {"inlineData": {"mimeType": inline.media_type, "data": inline.data}}
    return {"fileData": {"mimeType": guess_media_type(url, default_type), "fileUri": url}}


def _part(part: Mapping[str, Any]) -> Part:
    ptype = part.get("type")
    if ptype in ("text", "refusal"):
        return {"text": part.get("text") or part.get("refusal") or ""}
    if ptype == "image_url":
        return _file_part(str((part.get("image_url") or {}).get("url", "")), "image/jpeg")
    if ptype == "file":
        file = part.get("file") or {}
        if file.get("file_data"):
            return _file_part(str(file["file_data"]), "application/pdf")
        if file.get("file_id"):
            return {"fileData": {"mimeType": "application/pdf", "fileUri": str(file["file_id"])}}
    if ptype == "input_audio":
        audio = part.get("input_audio") or {}
        return {"inlineData": {"mimeType": f"audio/{audio.get('format', 'wav')}", "data": audio.get("data", "")}}
    raise BadRequest(f"Gemini does not accept {ptype!r} content parts", code="unsupported_content")


def _parts(content: Any) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    return [_part(p) for p in content if isinstance(p, Mapping)]


def _model_parts(message: Mapping[str, Any], names: dict[str, str]) -> list[Part]:
    parts = _parts(message.get("content"))
    for call in message.get("tool_calls") or ():
        if not isinstance(call, Mapping):
            continue
        name = (call.get("function") or {}).get("name")
        if isinstance(call.get("id"), str) and isinstance(name, str):
            names[call["id"]] = name
        part: Part = {"functionCall": {"name": name, "args": tool_arguments(call)}}
        sig = thought_signature(call)
        if sig is not None:
            part["thoughtSignature"] = sig
        parts.append(part)
    return parts


def _function_response(message: Mapping[str, Any], names: Mapping[str, str]) -> Part:
    call_id = message.get("tool_call_id")
    name = names.get(call_id) if isinstance(call_id, str) else None
    name = name or message.get("name")
    if not isinstance(name, str):
        raise BadRequest(f"tool message answers an unknown tool call {call_id!r}", code="unknown_tool_call")
    content = message.get("content")
    text = content if isinstance(content, str) else "".join(p.get("text", "") for p in _parts(content))
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    response = value if isinstance(value, dict) else {"content": text}
    return {"functionResponse": {"name": name, "response": response}}


def _append(contents: list[dict[str, Any]], role: str, parts: list[Part]) -> None:
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def encode_contents(messages: Sequence[Mapping[str, Any]]) -> tuple[list[Part], list[dict[str, Any]]]:
    """``(system instruction parts, contents)``."""
    system: list[Part] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            system += _parts(m.get("content"))
        elif role in ("tool", "function"):
            _append(contents, "user", [_function_response(m, names)])
        elif role == "assistant":
            _append(contents, "model", _model_parts(m, names))
        else:
            _append(contents, "user", _parts(m.get("content")))
    return system, contents


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice == "auto":
        return {"functionCallingConfig": {"mode": "AUTO"}}
    if choice == "required":
        return {"functionCallingConfig": {"mode": "ANY"}}
    if choice == "none":
        return {"functionCallingConfig": {"mode": "NONE"}}
    if isinstance(choice, Mapping):
        name = (choice.get("function") or {}).get("name")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    return None


def _declaration(tool: Mapping[str, Any]) -> dict[str, Any]:
    fn = tool.get("function") or {}
    out: dict[str, Any] = {"name": fn.get("name")}
    if fn.get("description"):
        out["description"] = fn["description"]
    if fn.get("parameters"):
        out["parametersJsonSchema"] = fn["parameters"]
    return out


def _generation_config(params: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        gemini: params[ours] for ours, gemini in _GENERATION.items() if params.get(ours) is not None
    }
    limit = max_output_tokens(params)
    if limit is not None:
        config["maxOutputTokens"] = limit
    stops = stop_list(params.get("stop"))
    if stops:
        config["stopSequences"] = stops
    fmt = params.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema:
            config["responseJsonSchema"] = schema
    budget = THINKING_BUDGETS.get(str(params.get("reasoning_effort")))
    if budget is not None:
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": budget > 0}
    extra = params.get("generationConfig")
    if isinstance(extra, Mapping):
        config.update(extra)
    return config


def encode_request(endpoint: Endpoint, request: ChatRequest) -> dict[str, Any]:
    """The ``generateContent`` body for ``request`` at ``endpoint``."""
    params = request.params
    system, contents = encode_contents(request.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    if params.get("tools"):
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in params["tools"]]}]
        config = _tool_config(params.get("tool_choice"))
        if config is not None:
            body["toolConfig"] = config
    generation = _generation_config(params)
    if generation:
        body["generationConfig"] = generation
    pass_through(body, params, _HANDLED, endpoint.extra_body)
    return body
