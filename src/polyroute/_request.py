"""Requests: the OpenAI Chat Completions parameters plus routing options, validated up front.

Validation is hand-written rather than a pydantic model because it runs on every call; each
failure raises :class:`~polyroute.errors.InvalidRequest` naming the offending parameter
(``messages[2].content[0].type``) before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from polyroute.errors import InvalidRequest

__all__ = ["Caller", "ChatRequest", "validate_params"]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})
_RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})
_TOOL_CHOICE_WORDS = frozenset({"none", "auto", "required"})


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, for budgets and the ledger. Never sent upstream (except ``user``)."""

    user: str | None = None
    #: the caller's API key or key label: kept out of reprs
    key: str | None = field(default=None, repr=False)
    project: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated request.

    ``models`` is the ordered list of models to try (the requested model first, then
    fallbacks); ``params`` the OpenAI body parameters other than ``model``, ``messages`` and
    ``stream`` (unknown extras included, passed through to OpenAI-compatible providers).
    """

    models: tuple[str, ...]
    messages: Sequence[Mapping[str, Any]]
    params: Mapping[str, Any]
    stream: bool = False
    include_usage: bool = False
    provider: Mapping[str, Any] | None = None
    caller: Caller = Caller()
    session_id: str | None = None
    timeout: float | None = None
    #: hedging for this call: ``None`` (the router's setting), ``True``/``False``, a delay in
    #: seconds, or a percentile of time to first token (``"p95"``)
    hedge: bool | float | str | None = None

    #: what the call asks for: ``"chat"`` here, ``"embedding"`` for an embeddings request
    kind: ClassVar[str] = "chat"

    @property
    def model(self) -> str:
        """The primary model."""
        return self.models[0]

    @property
    def max_output_tokens(self) -> int | None:
        """``max_completion_tokens`` or ``max_tokens``, whichever was given."""
        value = self.params.get("max_completion_tokens", self.params.get("max_tokens"))
        return value if isinstance(value, int) else None


def _fail(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_content(path: str, content: Any, role: str) -> None:
    if isinstance(content, str):
        return
    if content is None:
        if role in ("assistant", "function"):
            return
        raise _fail(path, f"a {role!r} message needs content (a string or a list of parts)")
    if not isinstance(content, list) or not content:
        raise _fail(path, f"must be a string or a non-empty list of content parts, got {type(content).__name__}")
    for j, part in enumerate(content):
        ppath = f"{path}[{j}]"
        if not isinstance(part, Mapping):
            raise _fail(ppath, f"a content part must be an object, got {type(part).__name__}")
        ptype = part.get("type")
        if ptype not in _PART_TYPES:
            raise _fail(f"{ppath}.type", f"unknown content part type {ptype!r}; expected one of {sorted(_PART_TYPES)}")
        if ptype == "text" and not isinstance(part.get("text"), str):
            raise _fail(f"{ppath}.text", "a text part needs a string 'text'")
        if ptype == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else None
            if not isinstance(url, str) or not url:
                raise _fail(f"{ppath}.image_url.url", "an image_url part needs {'image_url': {'url': ...}}")


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)):
        raise _fail("messages", f"must be a list of message objects, got {type(messages).__name__}")
    if not messages:
        raise _fail("messages", "must not be empty")
    for i, m in enumerate(messages):
        path = f"messages[{i}]"
        if not isinstance(m, Mapping):
            raise _fail(path, f"must be an object with 'role' and 'content', got {type(m).__name__}")
        role = m.get("role")
        if role not in _ROLES:
            raise _fail(f"{path}.role", f"unknown role {role!r}; expected one of {sorted(_ROLES)}")
        content = m.get("content")
        if content is None and role == "assistant":
            if not m.get("tool_calls") and not m.get("function_call"):
                raise _fail(path, "an assistant message needs content or tool_calls")
        elif not isinstance(content, str):
            _check_content(f"{path}.content", content, role)
        if role == "tool" and not isinstance(m.get("tool_call_id"), str):
            raise _fail(f"{path}.tool_call_id", "a tool message needs the 'tool_call_id' it answers")
        calls = m.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, list):
                raise _fail(f"{path}.tool_calls", "must be a list")
            for j, call in enumerate(calls):
                fn = call.get("function") if isinstance(call, Mapping) else None
                if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
                    raise _fail(f"{path}.tool_calls[{j}].function.name", "a tool call needs a function name")


def _check_tools(tools: Any) -> set[str]:
    if not isinstance(tools, list):
        raise _fail("tools", f"must be a list, got {type(tools).__name__}")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        path = f"tools[{i}]"
        if not isinstance(tool, Mapping) or tool.get("type", "function") != "function":
            raise _fail(f"{path}.type", "only {'type': 'function', 'function': {...}} tools are supported")
        fn = tool.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else None
        if not isinstance(name, str) or not name:
            raise _fail(f"{path}.function.name", "a tool needs a function name")
        params = fn.get("parameters") if isinstance(fn, Mapping) else None
        if params is not None and not isinstance(params, Mapping):
            raise _fail(f"{path}.function.parameters", "must be a JSON Schema object")
        names.add(name)
    return names


def _check_tool_choice(choice: Any, tool_names: set[str]) -> None:
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICE_WORDS:
            raise _fail(
                "tool_choice", f"must be one of {sorted(_TOOL_CHOICE_WORDS)} or a function choice, got {choice!r}"
            )
        if choice == "required" and not tool_names:
            raise _fail("tool_choice", "'required' needs tools")
        return
    fn = choice.get("function") if isinstance(choice, Mapping) else None
    name = fn.get("name") if isinstance(fn, Mapping) else None
    if not isinstance(name, str):
        raise _fail(
            "tool_choice", "must be 'none', 'auto', 'required' or {'type': 'function', 'function': {'name': ...}}"
        )
    if name not in tool_names:
        raise _fail("tool_choice.function.name", f"names {name!r}, which is not among the tools {sorted(tool_names)}")


def _check_response_format(rf: Any) -> None:
    rtype = rf.get("type") if isinstance(rf, Mapping) else None
    if rtype not in _RESPONSE_FORMATS:
        raise _fail("response_format.type", f"must be one of {sorted(_RESPONSE_FORMATS)}, got {rtype!r}")
    if rtype == "json_schema":
        schema = rf.get("json_schema")
        if not isinstance(schema, Mapping) or not isinstance(schema.get("name"), str):
            raise _fail("response_format.json_schema", "needs {'name': ..., 'schema': {...}}")


def _check_range(params: Mapping[str, Any], name: str, low: float, high: float) -> None:
    value = params.get(name)
    if value is not None and (not _is_number(value) or not low <= value <= high):
        raise _fail(name, f"must be a number between {low} and {high}, got {value!r}")


def _check_positive_int(params: Mapping[str, Any], name: str) -> None:
    value = params.get(name)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise _fail(name, f"must be a positive integer, got {value!r}")


def validate_params(messages: Any, params: Mapping[str, Any]) -> None:
    """Check ``messages`` and the OpenAI parameters; raise :class:`InvalidRequest` on the first problem."""
    _check_messages(messages)
    if not params:
        return
    _check_range(params, "temperature", 0.0, 2.0)
    _check_range(params, "top_p", 0.0, 1.0)
    _check_range(params, "presence_penalty", -2.0, 2.0)
    _check_range(params, "frequency_penalty", -2.0, 2.0)
    for name in ("max_tokens", "max_completion_tokens", "n", "top_logprobs"):
        _check_positive_int(params, name)
    seed = params.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise _fail("seed", f"must be an integer, got {seed!r}")
    stop = params.get("stop")
    if (
        stop is not None
        and not isinstance(stop, str)
        and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise _fail("stop", "must be a string or a list of strings")
    tool_names: set[str] = set()
    if params.get("tools") is not None:
        tool_names = _check_tools(params["tools"])
    if params.get("tool_choice") is not None:
        _check_tool_choice(params["tool_choice"], tool_names)
    if params.get("response_format") is not None:
        _check_response_format(params["response_format"])
    user = params.get("user")
    if user is not None and not isinstance(user, str):
        raise _fail("user", "must be a string")
