"""Property-based tests (hypothesis, fixed seeds): hostile request parameters, configuration
documents and provider replies (mutations of the real recordings), in sync, async and streaming
modes over the three wire APIs. Whatever comes in, nothing but a ``polyroute.errors`` exception
comes out, no cost is negative or NaN, and nothing hangs (the in-process providers answer at once)."""

from __future__ import annotations

import asyncio
import copy
import json
import math
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from tests.conformance._recordings import recordings
from tests.hostile_support import Answer, good, is_stream, two_providers

import polyroute
from polyroute import errors

_SETTINGS = settings(
    derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck), print_blob=False
)
APIS = ("openai", "anthropic", "gemini")
MODES = ("sync", "async", "sync-stream", "async-stream")

# -- hostile values ------------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 2**64 - 1, 2**64]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["", "\ud800", "x\udfffy", "sk-" + "live-0123456789abcdefghij", "p95", "auto", "user"]),
    st.binary(max_size=4),
)
hostile = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers(0, 3)), inner, max_size=3),
        st.frozensets(st.integers(0, 3), max_size=2),
    ),
    max_leaves=6,
)

_PARAMS = [
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "n",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "reasoning_effort",
    "stream_options",
    "user",
    "metadata",
    "models",
    "provider",
    "session_id",
    "timeout",
    "hedge",
    "caller_key",
    "project",
    "tags",
    "extra_body",
    "top_k",
]
_good_part = st.sampled_from(
    [
        {"type": "text", "text": "hi"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,AAAA"}},
    ]
)
_content = st.one_of(st.text(max_size=10), st.lists(st.one_of(_good_part, hostile), min_size=0, max_size=2), hostile)
_message = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant"]), "content": _content}),
    st.fixed_dictionaries(
        {"role": st.one_of(st.sampled_from(["user", "tool", "assistant", "wizard"]), hostile), "content": _content},
        optional={"tool_call_id": hostile, "tool_calls": hostile, "name": hostile},
    ),
    hostile,
)
_messages = st.one_of(st.lists(_message, min_size=1, max_size=3), hostile)
_kwargs = st.dictionaries(st.sampled_from(_PARAMS), hostile, max_size=4)


def _valid_cost(value: Any) -> bool:
    return value is None or (isinstance(value, Decimal) and value.is_finite() and value >= 0)


def _check_route(route: Any) -> None:
    assert _valid_cost(route.cost)
    for attempt in route.attempts:
        assert _valid_cost(attempt.cost), attempt


def _call(router: polyroute.Router, mode: str, messages: Any, kwargs: dict[str, Any]) -> None:
    stream = mode.endswith("stream")
    if mode.startswith("async"):

        async def run() -> None:
            resp = await router.acompletion("m", messages, stream=stream, **kwargs)
            if stream:
                chunks = [c async for c in resp]  # type: ignore[union-attr]
                _check_route(chunks[-1].route)
            else:
                _check_route(resp.route)  # type: ignore[union-attr]

        asyncio.run(run())
        return
    resp = router.completion("m", messages, stream=stream, **kwargs)
    if stream:
        chunks = list(resp)  # type: ignore[arg-type]
        _check_route(chunks[-1].route)
    else:
        _check_route(resp.route)  # type: ignore[union-attr]


def _outcome(router: polyroute.Router, mode: str, messages: Any, kwargs: dict[str, Any]) -> None:
    try:
        _call(router, mode, messages, kwargs)
    except errors.PolyrouteError as exc:
        for attempt in exc.attempts:
            assert _valid_cost(attempt.cost)


# -- requests: 4 modes x 3 APIs x 170 examples = 2,040 ---------------------------------------------


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("mode", MODES)
def test_hostile_requests_raise_only_polyroute_errors(api: str, mode: str) -> None:
    router = two_providers(api, good(api), good(api))

    @settings(_SETTINGS, max_examples=170)
    @seed(12)
    @given(messages=_messages, kwargs=_kwargs)
    def check(messages: Any, kwargs: dict[str, Any]) -> None:
        kwargs.pop("hedge", None) if not mode.startswith("async") else None
        _outcome(router, mode, messages, kwargs)

    try:
        check()
    finally:
        router.close()


# -- configurations: 400 documents ----------------------------------------------------------------

_BASE_CONFIG: dict[str, Any] = {
    "providers": {
        "p": {
            "api": "openai",
            "base_url": "https://api.example.com/v1",
            "api_key": "${KEY}",
            "headers": {"X-Title": "t"},
            "timeout": {"connect": 5, "read": 30},
        }
    },
    "models": {
        "m": {
            "endpoints": [{"provider": "p", "model": "x", "pricing": {"prompt": "1e-6", "completion": 2e-6}}],
            "fallbacks": [],
            "provider": {"sort": "price"},
        }
    },
    "router": {"retry": {"max_retries": 1}, "breaker": {"cooldown": 30}, "limits": {"max_body_bytes": 2**20}},
    "costs": {"reserve_max_tokens": 100},
    "budgets": [{"scope": "user", "limit_usd": 5}],
}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


_CONFIG_PATHS = _paths(_BASE_CONFIG)[1:]
_config_values = st.one_of(
    hostile,
    st.sampled_from(
        ["${KEY}", "${KEY:-sk-x}", "${NOPE}", "a\r\nb", "http://", "https://h:99999", ".inf", "sqlite://x"]
    ),
)


@settings(_SETTINGS, max_examples=400)
@seed(400)
@given(edits=st.lists(st.tuples(st.sampled_from(_CONFIG_PATHS), _config_values), min_size=1, max_size=3))
def test_hostile_configurations_load_or_raise_config_error(edits: list[tuple[tuple[Any, ...], Any]]) -> None:
    cfg = copy.deepcopy(_BASE_CONFIG)
    for path, value in edits:
        node: Any = cfg
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    try:
        router = polyroute.Router.from_config(cfg, env={"KEY": "sk-" + "live-0123456789abcdefghij"})
    except errors.ConfigError as exc:
        assert "sk-" + "live-0123456789abcdefghij" not in str(exc)
        return
    router.close()


# -- provider replies: mutations of the real recordings ---------------------------------------------


def _exchanges() -> list[tuple[str, bool, int, bytes]]:
    out = []
    for rec in recordings():
        api = rec.provider if rec.provider in ("anthropic", "gemini") else "openai"
        try:
            for ex in rec.exchanges():
                out.append((api, ex.stream, ex.status, ex.body))
        except Exception:  # noqa: BLE001 - formats the conformance suite skips
            continue
    return out


_EXCHANGES = _exchanges()
_extreme = st.one_of(
    hostile, st.sampled_from([-1, 2**64 - 1, 2**31, 1e308, "NaN", "abc", [], {}, "5", 3.5, None, True])
)


def _mutate(obj: Any, path_index: int, value: Any) -> Any:
    paths = _paths(obj)[1:]
    if not paths:
        return value
    path = paths[path_index % len(paths)]
    node = obj
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return obj


def _dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, default=repr).encode()


def _mutated_body(body: bytes, stream: bool, path_index: int, value: Any, frame_index: int) -> bytes:
    if not stream:
        try:
            return _dumps(_mutate(json.loads(body), path_index, value))
        except ValueError:
            return body
    frames = body.split(b"\n\n")
    data_frames = [i for i, f in enumerate(frames) if b"data: {" in f or b"data:{" in f]
    if not data_frames:
        return body
    i = data_frames[frame_index % len(data_frames)]
    head, _, data = frames[i].partition(b"data:")
    try:
        frames[i] = head + b"data: " + _dumps(_mutate(json.loads(data), path_index, value))
    except ValueError:
        pass
    return b"\n\n".join(frames)


@pytest.mark.skipif(not _EXCHANGES, reason="the real recordings are not available (set POLYROUTE_SHARED_DIR)")
@pytest.mark.parametrize("asynchronous", [False, True])
def test_mutated_real_replies_fail_over_or_succeed_never_crash(asynchronous: bool) -> None:
    @settings(_SETTINGS, max_examples=150)
    @seed(7)
    @given(
        which=st.integers(0, 10_000),
        path_index=st.integers(0, 10_000),
        frame_index=st.integers(0, 50),
        value=_extreme,
    )
    def check(which: int, path_index: int, frame_index: int, value: Any) -> None:
        api, stream, status, body = _EXCHANGES[which % len(_EXCHANGES)]
        bad_body = _mutated_body(body, stream, path_index, value, frame_index)
        ctype = "text/event-stream" if stream else "application/json"

        def bad(request: Any) -> Answer:
            return Answer(bad_body, status=status, headers={"content-type": ctype})

        router = two_providers(api, bad, good(api))
        mode = ("async" if asynchronous else "sync") + ("-stream" if stream else "")
        try:
            _outcome(router, mode, [{"role": "user", "content": "hi"}], {})
        finally:
            router.close()

    check()


def test_is_stream_sees_every_wire_api() -> None:
    from polyroute.transports import HttpRequest

    assert is_stream(HttpRequest("POST", "u", {}, b'{"stream":true}'))
    assert not is_stream(HttpRequest("POST", "u", {}, b"{}"))
    assert math.isfinite(1.0)
