"""Hostile providers: a reply of the wrong shape, with impossible usage, or without choices is a
``MalformedResponse`` that fails over; costs are never negative, NaN or absurd."""

from __future__ import annotations

import asyncio
import copy
from decimal import Decimal
from typing import Any

import orjson
import pytest
from tests.hostile_support import (
    Answer,
    good,
    good_answer,
    openai_body,
    openai_sse,
    openai_stream_frames,
    two_providers,
)

from polyroute import errors

USER = [{"role": "user", "content": "hi"}]
_MSG = {"role": "assistant", "content": "hi"}
_USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}

WRONG: list[tuple[str, dict[str, Any]]] = [
    ("choices: [1]", {"choices": [1]}),
    ("choices: 'x'", {"choices": "x"}),
    ("message: 'x'", {"choices": [{"index": 0, "message": "x", "finish_reason": "stop"}]}),
    ("tool_calls: [5]", {"choices": [{"message": {"role": "assistant", "tool_calls": [5]}, "finish_reason": "stop"}]}),
    (
        "tool_calls function name 5",
        {"choices": [{"message": {"role": "assistant", "tool_calls": [{"function": {"name": 5}}]}}]},
    ),
    ("content: 5", {"choices": [{"message": {"role": "assistant", "content": 5}, "finish_reason": "stop"}]}),
    ("content: {}", {"choices": [{"message": {"role": "assistant", "content": {"a": 1}}, "finish_reason": "stop"}]}),
    ("finish_reason: 5", {"choices": [{"message": _MSG, "finish_reason": 5}]}),
    ("usage: 'x'", {"usage": "x"}),
    ("usage: [1]", {"usage": [1]}),
    ("prompt_tokens_details: 'x'", {"usage": {**_USAGE, "prompt_tokens_details": "x"}}),
    ("cached_tokens: -5", {"usage": {**_USAGE, "prompt_tokens_details": {"cached_tokens": -5}}}),
    ("reasoning_tokens: 'x'", {"usage": {**_USAGE, "completion_tokens_details": {"reasoning_tokens": "x"}}}),
    ("usage.cost: 'abc'", {"usage": {**_USAGE, "cost": "abc"}}),
    ("usage.cost: 'NaN'", {"usage": {**_USAGE, "cost": "NaN"}}),
    ("usage.cost: -1", {"usage": {**_USAGE, "cost": -1}}),
    ("usage.cost: 1e30", {"usage": {**_USAGE, "cost": 1e30}}),
    ("usage.cost: true", {"usage": {**_USAGE, "cost": True}}),
    ("prompt_tokens: -10", {"usage": {"prompt_tokens": -10, "completion_tokens": 2, "total_tokens": -8}}),
    ("prompt_tokens: 2**64-1", {"usage": {"prompt_tokens": 2**64 - 1, "completion_tokens": 2}}),
    ("prompt_tokens: '3'", {"usage": {"prompt_tokens": "3", "completion_tokens": 2}}),
    ("prompt_tokens: 3.5", {"usage": {"prompt_tokens": 3.5, "completion_tokens": 2}}),
    ("completion_tokens: true", {"usage": {"prompt_tokens": 3, "completion_tokens": True}}),
    ("choices: []", {"choices": []}),
]


def _bad_json(over: dict[str, Any]) -> bytes:
    return (
        orjson.dumps(openai_body(**over), option=orjson.OPT_PASSTHROUGH_DATACLASS)
        if "usage" not in over or not _huge(over)
        else _raw(over)
    )


def _huge(over: dict[str, Any]) -> bool:
    usage = over.get("usage")
    return isinstance(usage, dict) and any(isinstance(v, int) and v >= 2**63 for v in usage.values())


def _raw(over: dict[str, Any]) -> bytes:
    # orjson cannot write 2**64-1; json can, and providers are not bound by orjson
    import json

    return json.dumps(openai_body(**over)).encode()


def _check_failed_over(resp: Any) -> None:
    assert resp.route.provider == "good"
    first = resp.route.attempts[0]
    assert first.provider == "bad"
    assert first.error == "MalformedResponse", first
    assert resp.route.cost is not None and resp.route.cost >= 0
    assert all(a.cost is None or (a.cost.is_finite() and a.cost >= 0) for a in resp.route.attempts)


@pytest.mark.parametrize(("name", "over"), WRONG, ids=[w[0] for w in WRONG])
def test_wrong_typed_replies_fail_over(name: str, over: dict[str, Any]) -> None:
    body = _bad_json(over)
    with two_providers("openai", lambda r: Answer(body), lambda r: good_answer("openai", False)) as router:
        _check_failed_over(router.completion("m", USER))


@pytest.mark.parametrize(("name", "over"), WRONG[:-1], ids=[w[0] for w in WRONG[:-1]])
def test_wrong_typed_stream_frames_fail_over(name: str, over: dict[str, Any]) -> None:
    frames = openai_stream_frames()
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "x"}
    over = copy.deepcopy(over)
    frame: dict[str, Any] = {**base, **over}
    if "choices" in over and isinstance(over["choices"], list):  # the message shape, as a delta
        frame["choices"] = [
            {**c, "delta": c.pop("message")} if isinstance(c, dict) and "message" in c else c for c in over["choices"]
        ]
    body = (
        openai_sse([frame, *frames])
        if "usage" not in over
        else openai_sse([*frames[:2], {**base, "choices": [], **over}])
    )
    if _huge(over):
        import json

        body = body.replace(orjson.dumps(over["usage"]), json.dumps(over["usage"]).encode())
    sse = {"content-type": "text/event-stream"}
    chunks: list[Any] = []
    with two_providers("openai", lambda r: Answer(body, headers=sse), lambda r: good_answer("openai", True)) as router:
        try:
            chunks.extend(router.completion("m", USER, stream=True))
        except errors.StreamInterrupted as exc:
            # a frame that breaks after content was relayed is a break (issue 13): it says so,
            # with the provider's fault as its cause, and only when the bad frame came after content
            assert "usage" in over
            assert isinstance(exc.error, errors.MalformedResponse), exc.error
            assert exc.delivered_text == "hi"
            return
    _check_failed_over(chunks[-1])
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hi"


@pytest.mark.parametrize(
    "body",
    [b"data: [DONE]\n\n", openai_sse([{"id": "x", "choices": []}]), openai_sse([{"id": "x"}])],
    ids=["only [DONE]", "no choices", "choices missing"],
)
def test_a_stream_without_choices_fails_over_like_an_empty_reply(body: bytes) -> None:
    sse = {"content-type": "text/event-stream"}
    with two_providers("openai", lambda r: Answer(body, headers=sse), lambda r: good_answer("openai", True)) as router:
        chunks = list(router.completion("m", USER, stream=True))
    _check_failed_over(chunks[-1])


@pytest.mark.parametrize("api", ["anthropic", "gemini"])
@pytest.mark.parametrize(
    "mutate",
    ["tokens negative", "tokens string", "tokens huge", "content not a list", "usage a string"],
)
def test_native_apis_refuse_impossible_replies(api: str, mutate: str) -> None:
    good = orjson.loads(b"".join(good_answer(api, False).pieces()))
    bad = dict(good)
    if api == "anthropic":
        usage_key, count_key = "usage", "input_tokens"
        content_key = "content"
    else:
        usage_key, count_key = "usageMetadata", "promptTokenCount"
        content_key = "candidates"
    if mutate == "tokens negative":
        bad[usage_key] = {**good[usage_key], count_key: -3}
    elif mutate == "tokens string":
        bad[usage_key] = {**good[usage_key], count_key: "3"}
    elif mutate == "tokens huge":
        bad[usage_key] = {**good[usage_key], count_key: 2**62}
    elif mutate == "content not a list":
        bad[content_key] = 5
    else:
        bad[usage_key] = "x"
    body = orjson.dumps(bad)
    with two_providers(api, lambda r: Answer(body), lambda r: good_answer(api, False)) as router:
        resp = router.completion("m", USER)
    _check_failed_over(resp)


def test_async_replies_fail_over_alike() -> None:
    async def run() -> None:
        for _, over in WRONG[:8]:
            body = _bad_json(over)
            router = two_providers("openai", lambda r, b=body: Answer(b), good("openai"))
            try:
                _check_failed_over(await router.acompletion("m", USER))
                stream = await router.acompletion("m", USER, stream=True)  # the bad JSON is no stream either
                chunks = [c async for c in stream]
                assert chunks[-1].route.provider == "good"
                assert chunks[-1].route.attempts[0].error in ("MalformedResponse", "IncompleteStream")
            finally:
                await router.aclose()

    asyncio.run(run())


def test_costs_are_never_negative_even_when_usage_disagrees_with_itself() -> None:
    over = {
        "usage": {
            "prompt_tokens": 3,
            "completion_tokens": 2,
            "total_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 50},
        }
    }
    body = orjson.dumps(openai_body(**over))
    with two_providers("openai", lambda r: Answer(body), lambda r: good_answer("openai", False)) as router:
        resp = router.completion("m", USER)
    assert resp.route.cost is not None and resp.route.cost >= Decimal(0)
