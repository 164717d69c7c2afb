"""Requests: the OpenAI Chat Completions parameters plus routing options, validated up front.

:func:`build_request` turns a call's arguments into one validated, normalised
:class:`ChatRequest`, once per call: every parameter polyroute reads is checked here, routing
preferences (``provider``) are normalised and ``hedge`` is parsed, so nothing downstream
re-checks them. Validation is hand-written rather than a pydantic model because it runs on every
call; each failure raises :class:`~polyroute.errors.InvalidRequest` naming the offending
parameter (``messages[2].content[0].type``) before anything is sent.

The messages are encoded to JSON here, once: text that JSON cannot carry (a lone surrogate such
as ``"\\ud800"``) is an invalid request, and the OpenAI adapter reuses the bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from polyroute._params import ROUTING_KEYS
from polyroute.errors import InvalidRequest

if TYPE_CHECKING:
    from polyroute.catalog._catalog import HedgeSettings

__all__ = ["MAX_INT", "Caller", "ChatRequest", "Preferences", "build_request", "validate_params"]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})
_RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})
_TOOL_CHOICE_WORDS = frozenset({"none", "auto", "required"})
#: the largest integer parameter accepted (``max_tokens``, ``n``...): anything above is absurd
MAX_INT = 2**31 - 1
_INT64 = 2**63
#: ``metadata`` is stored with every ledger row: kept small
_MAX_METADATA_BYTES = 16_384
#: OpenAI parameters whose values are plain numbers, booleans or short strings, checked by type
_SCALARS = frozenset(
    {
        "temperature",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "top_logprobs",
        "seed",
        "logprobs",
        "parallel_tool_calls",
    }
)


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
    ``provider`` holds the request's provider preferences, already normalised.
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
    #: hedging for this call as given: ``None`` (the router's setting), ``True``/``False``, a
    #: delay in seconds, or a percentile of time to first token (``"p95"``)
    hedge: bool | float | str | None = None
    #: ``hedge`` parsed against the router's settings (``None``: not hedged, or not given)
    hedging: HedgeSettings | None = None
    #: ``messages`` as JSON, encoded once by :func:`build_request` (``None`` if not validated)
    messages_json: bytes | None = field(default=None, repr=False, compare=False)

    #: what the call asks for: ``"chat"`` here, ``"embedding"`` for an embeddings request
    kind: ClassVar[str] = "chat"

    def __post_init__(self) -> None:
        provider = self.provider
        if provider is not None and type(provider) is not Preferences:
            # built by hand (not by build_request): normalised here, still once per request
            object.__setattr__(self, "provider", _provider(provider))

    @property
    def model(self) -> str:
        """The primary model."""
        return self.models[0]

    @property
    def max_output_tokens(self) -> int | None:
        """``max_completion_tokens`` or ``max_tokens``, whichever was given."""
        value = self.params.get("max_completion_tokens", self.params.get("max_tokens"))
        return value if isinstance(value, int) else None


class Preferences(dict[str, Any]):
    """A request's provider preferences, normalised (see ``normalize_preferences``)."""

    __slots__ = ()


def _fail(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _kind(value: Any) -> str:
    return type(value).__name__


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _json(value: Any, param: str) -> bytes:
    """``value`` as JSON; :class:`InvalidRequest` naming ``param`` if JSON cannot carry it."""
    try:
        return orjson.dumps(value)
    except (TypeError, ValueError) as exc:  # orjson.JSONEncodeError is a TypeError
        raise _fail(param, f"cannot be sent as JSON: {_encode_problem(exc)}") from None


def _encode_problem(exc: BaseException) -> str:
    text = str(exc)
    if "surrogates" in text or "UTF-8" in text:
        return "it contains text that is not valid Unicode (a lone surrogate such as '\\ud800')"
    if "64-bit" in text:
        return "an integer is out of range"
    return text[:200]


def _optional_str(m: Mapping[str, Any], key: str, path: str) -> None:
    value = m.get(key)
    if value is not None and not isinstance(value, str):
        raise _fail(f"{path}.{key}", f"must be a string, got {_kind(value)}")


def _check_part(ppath: str, part: Any) -> None:
    if not isinstance(part, Mapping):
        raise _fail(ppath, f"a content part must be an object, got {_kind(part)}")
    ptype = part.get("type")
    if type(ptype) is not str or ptype not in _PART_TYPES:
        raise _fail(f"{ppath}.type", f"unknown content part type {ptype!r}; expected one of {sorted(_PART_TYPES)}")
    if ptype == "text":
        if not isinstance(part.get("text"), str):
            raise _fail(f"{ppath}.text", "a text part needs a string 'text'")
    elif ptype == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else None
        if not isinstance(url, str) or not url:
            raise _fail(f"{ppath}.image_url.url", "an image_url part needs {'image_url': {'url': ...}}")
        _optional_str(image, "detail", f"{ppath}.image_url")  # type: ignore[arg-type]
    elif ptype == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, Mapping) or not isinstance(audio.get("data"), str):
            raise _fail(f"{ppath}.input_audio", "needs {'input_audio': {'data': ..., 'format': ...}}")
        _optional_str(audio, "format", f"{ppath}.input_audio")
    elif ptype == "file":
        file = part.get("file")
        if not isinstance(file, Mapping):
            raise _fail(f"{ppath}.file", "a file part needs {'file': {'file_data': ...} or {'file_id': ...}}")
        for key in ("file_data", "file_id", "filename"):
            _optional_str(file, key, f"{ppath}.file")
        if not file.get("file_data") and not file.get("file_id"):
            raise _fail(f"{ppath}.file", "a file part needs 'file_data' or 'file_id'")
    elif not isinstance(part.get("refusal"), str):
        raise _fail(f"{ppath}.refusal", "a refusal part needs a string 'refusal'")
    control = part.get("cache_control")
    if control is not None and not isinstance(control, Mapping):
        raise _fail(f"{ppath}.cache_control", f"must be an object, got {_kind(control)}")


def _check_content(path: str, content: Any, role: str) -> None:
    if content is None:
        if role in ("assistant", "function"):
            return
        raise _fail(path, f"a {role!r} message needs content (a string or a list of parts)")
    if not isinstance(content, list) or not content:
        raise _fail(path, f"must be a string or a non-empty list of content parts, got {_kind(content)}")
    for j, part in enumerate(content):
        _check_part(f"{path}[{j}]", part)


def _check_tool_calls(path: str, calls: Any) -> None:
    if not isinstance(calls, list):
        raise _fail(path, f"must be a list, got {_kind(calls)}")
    for j, call in enumerate(calls):
        cpath = f"{path}[{j}]"
        if not isinstance(call, Mapping):
            raise _fail(cpath, f"a tool call must be an object, got {_kind(call)}")
        fn = call.get("function")
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise _fail(f"{cpath}.function.name", "a tool call needs a function name")
        args = fn.get("arguments")
        if args is not None and not isinstance(args, (str, Mapping)):
            raise _fail(f"{cpath}.function.arguments", f"must be a JSON string, got {_kind(args)}")
        _optional_str(call, "id", cpath)
        _optional_str(call, "type", cpath)


def _check_message(path: str, m: Any) -> None:
    if not isinstance(m, Mapping):
        raise _fail(path, f"must be an object with 'role' and 'content', got {_kind(m)}")
    role = m.get("role")
    if type(role) is not str or role not in _ROLES:
        raise _fail(f"{path}.role", f"unknown role {role!r}; expected one of {sorted(_ROLES)}")
    content = m.get("content")
    if content is None and role == "assistant":
        if not m.get("tool_calls") and not m.get("function_call"):
            raise _fail(path, "an assistant message needs content or tool_calls")
    elif not isinstance(content, str):
        _check_content(f"{path}.content", content, role)
    if role == "tool" and not isinstance(m.get("tool_call_id"), str):
        raise _fail(f"{path}.tool_call_id", "a tool message needs the 'tool_call_id' it answers")
    if len(m) == 2:  # role and content: the common message, nothing else to check
        return
    _optional_str(m, "name", path)
    calls = m.get("tool_calls")
    if calls is not None:
        _check_tool_calls(f"{path}.tool_calls", calls)
    blocks = m.get("thinking_blocks")
    if blocks is not None and not (isinstance(blocks, list) and all(isinstance(b, Mapping) for b in blocks)):
        raise _fail(f"{path}.thinking_blocks", "must be a list of objects")
    control = m.get("cache_control")
    if control is not None and not isinstance(control, Mapping):
        raise _fail(f"{path}.cache_control", f"must be an object, got {_kind(control)}")


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, (list, tuple)):
        raise _fail("messages", f"must be a list of message objects, got {_kind(messages)}")
    if not messages:
        raise _fail("messages", "must not be empty")
    for i, m in enumerate(messages):
        _check_message(f"messages[{i}]", m)


def _encode_messages(messages: Sequence[Mapping[str, Any]]) -> bytes:
    try:
        return orjson.dumps(messages)
    except (TypeError, ValueError):
        for i, m in enumerate(messages):
            _json(m, f"messages[{i}]")
        raise _fail("messages", "cannot be sent as JSON") from None


def _check_tools(tools: Any) -> set[str]:
    if not isinstance(tools, list):
        raise _fail("tools", f"must be a list, got {_kind(tools)}")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        path = f"tools[{i}]"
        if not isinstance(tool, Mapping) or tool.get("type", "function") != "function":
            raise _fail(f"{path}.type", "only {'type': 'function', 'function': {...}} tools are supported")
        fn = tool.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else None
        if not isinstance(name, str) or not name:
            raise _fail(f"{path}.function.name", "a tool needs a function name")
        assert isinstance(fn, Mapping)
        params = fn.get("parameters")
        if params is not None and not isinstance(params, Mapping):
            raise _fail(f"{path}.function.parameters", "must be a JSON Schema object")
        _optional_str(fn, "description", f"{path}.function")
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
    if type(rtype) is not str or rtype not in _RESPONSE_FORMATS:
        raise _fail("response_format.type", f"must be one of {sorted(_RESPONSE_FORMATS)}, got {rtype!r}")
    if rtype == "json_schema":
        schema = rf.get("json_schema")
        if not isinstance(schema, Mapping) or not isinstance(schema.get("name"), str):
            raise _fail("response_format.json_schema", "needs {'name': ..., 'schema': {...}}")
        inner = schema.get("schema")
        if inner is not None and not isinstance(inner, Mapping):
            raise _fail("response_format.json_schema.schema", "must be a JSON Schema object")


def _check_range(params: Mapping[str, Any], name: str, low: float, high: float) -> None:
    value = params.get(name)
    if value is not None and (not _is_number(value) or not low <= value <= high):
        raise _fail(name, f"must be a number between {low} and {high}, got {value!r}")


def _check_positive_int(params: Mapping[str, Any], name: str) -> None:
    value = params.get(name)
    if value is not None and (type(value) is not int or not 1 <= value <= MAX_INT):
        raise _fail(name, f"must be a positive integer up to {MAX_INT}, got {_short(value)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_stop(stop: Any) -> None:
    if isinstance(stop, str):
        _json(stop, "stop")
        return
    if not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise _fail("stop", "must be a string or a list of strings")
    _json(stop, "stop")


def _check_logit_bias(bias: Any) -> None:
    if not isinstance(bias, Mapping):
        raise _fail("logit_bias", f"must be an object of token id -> bias, got {_kind(bias)}")
    for key, value in bias.items():
        if not isinstance(key, str) or not _is_number(value) or not -100 <= value <= 100:
            raise _fail("logit_bias", "must map token ids (strings) to numbers between -100 and 100")


def validate_params(messages: Any, params: Mapping[str, Any]) -> None:
    """Check ``messages`` and the OpenAI parameters; raise :class:`InvalidRequest` on the first problem."""
    _check_messages(messages)
    if params:
        _check_openai(params)


def _check_openai(params: Mapping[str, Any]) -> None:
    _check_range(params, "temperature", 0.0, 2.0)
    _check_range(params, "top_p", 0.0, 1.0)
    _check_range(params, "presence_penalty", -2.0, 2.0)
    _check_range(params, "frequency_penalty", -2.0, 2.0)
    for name in ("max_tokens", "max_completion_tokens", "n", "top_logprobs"):
        _check_positive_int(params, name)
    seed = params.get("seed")
    if seed is not None and (type(seed) is not int or not -_INT64 <= seed < _INT64):
        raise _fail("seed", f"must be a 64-bit integer, got {_short(seed)}")
    for name in ("logprobs", "parallel_tool_calls"):
        value = params.get(name)
        if value is not None and not isinstance(value, bool):
            raise _fail(name, f"must be true or false, got {_kind(value)}")
    stop = params.get("stop")
    if stop is not None:
        _check_stop(stop)
    tool_names: set[str] = set()
    if params.get("tools") is not None:
        tool_names = _check_tools(params["tools"])
    if params.get("tool_choice") is not None:
        _check_tool_choice(params["tool_choice"], tool_names)
    if params.get("response_format") is not None:
        _check_response_format(params["response_format"])
    if params.get("logit_bias") is not None:
        _check_logit_bias(params["logit_bias"])
    for name in ("user", "reasoning_effort"):
        value = params.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise _fail(name, f"must be a string, got {_kind(value)}")
            _json(value, name)
    for name, value in params.items():  # everything else goes to the provider as given: JSON it must be
        if name not in _SCALARS and name not in ("stop", "user", "reasoning_effort") and value is not None:
            _json(value, name)


# -- routing and caller options --------------------------------------------------------------


def _models(model: Any, models: Any) -> tuple[str, ...]:
    names: list[str] = []
    if model is not None:
        if not isinstance(model, str) or not model:
            raise _fail("model", "must be a non-empty string")
        names.append(model)
    if models is not None:
        if not isinstance(models, (list, tuple)) or not all(isinstance(m, str) and m for m in models):
            raise _fail("models", f"must be a list of model names, got {_short(models)}")
        names.extend(m for m in models if m not in names)
    if not names:
        raise _fail("model", "give a model (or a models list)")
    return tuple(names)


def _opt_str(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(name, f"must be a non-empty string, got {_short(value) if value == '' else _kind(value)}")
    _json(value, name)
    return value


def _timeout(value: Any) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise _fail("timeout", f"must be a finite number of seconds above 0, got {_short(value)}")
    return float(value)


def _tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(t, str) and t for t in value):
        raise _fail("tags", f"must be a list of non-empty strings, got {_short(value)}")
    _json(value, "tags")
    return tuple(value)


def _object(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _fail(name, f"must be an object with string keys, got {_kind(value)}")
    return value


def _metadata(value: Any) -> Mapping[str, Any]:
    meta = _object(value, "metadata")
    if meta and len(_json(meta, "metadata")) > _MAX_METADATA_BYTES:
        raise _fail("metadata", f"is larger than {_MAX_METADATA_BYTES} bytes as JSON")
    return meta


def _include_usage(value: Any) -> bool:
    options = _object(value, "stream_options")
    usage = options.get("include_usage")
    if usage is not None and not isinstance(usage, bool):
        raise _fail("stream_options.include_usage", f"must be true or false, got {_kind(usage)}")
    return bool(usage)


def _provider(value: Any) -> Preferences | None:
    if value is None:
        return None
    from polyroute.routing._preferences import normalize_preferences

    prefs = normalize_preferences(value)
    return Preferences(prefs) if prefs else None


def _hedging(value: Any, settings: HedgeSettings | None) -> HedgeSettings | None:
    if value is None:
        return None
    from polyroute.catalog._catalog import HedgeSettings
    from polyroute.execution._hedge import parse_hedge

    return parse_hedge(value, settings if settings is not None else HedgeSettings())


def build_request(
    model: Any,
    messages: Any,
    stream: Any,
    params: Mapping[str, Any],
    *,
    hedge_settings: HedgeSettings | None = None,
    validate: bool = True,
    anonymous: Caller = Caller(),
) -> ChatRequest:
    """The validated, normalised request for one call's arguments.

    ``hedge_settings`` are the router's (a request's ``hedge=`` is read against them);
    ``validate=False`` skips the messages and OpenAI parameters (for :meth:`Router.plan`), never
    the routing options. Raises :class:`InvalidRequest` naming the first bad parameter.
    """
    if type(stream) is not bool:
        raise _fail("stream", f"must be true or false, got {_kind(stream)}")
    if ROUTING_KEYS.isdisjoint(params):  # the common call: OpenAI parameters only
        names = _models(model, None)
        encoded = None
        if validate:
            _check_messages(messages)
            encoded = _encode_messages(messages)
            if params:
                _check_openai(params)
        user = params.get("user")
        return ChatRequest(
            models=names,
            messages=messages,
            params=dict(params),
            stream=stream,
            caller=anonymous if user is None else Caller(user=user),
            messages_json=encoded,
        )
    names = _models(model, params.get("models"))
    body = {k: v for k, v in params.items() if k not in ROUTING_KEYS}
    extra_body = _object(params.get("extra_body"), "extra_body")
    if extra_body:
        body.update(extra_body)
    encoded = None
    if validate:
        _check_messages(messages)
        encoded = _encode_messages(messages)
        if body:
            _check_openai(body)
    caller = Caller(
        user=_opt_str(params, "user"),
        key=_opt_str(params, "caller_key"),
        project=_opt_str(params, "project"),
        tags=_tags(params.get("tags")),
        metadata=_metadata(params.get("metadata")),
    )
    hedge = params.get("hedge")
    return ChatRequest(
        models=names,
        messages=messages,
        params=body,
        stream=stream,
        include_usage=_include_usage(params.get("stream_options")),
        provider=_provider(params.get("provider")),
        caller=caller,
        session_id=_opt_str(params, "session_id"),
        timeout=_timeout(params.get("timeout")),
        hedge=hedge,
        hedging=_hedging(hedge, hedge_settings),
        messages_json=encoded,
    )
