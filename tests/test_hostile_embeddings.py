"""Embeddings replies get the same checks as chat replies: wrong types, impossible token counts,
NaN or negative costs, vectors that are not vectors of finite numbers, or as many vectors as
inputs they are not: each is a ``MalformedResponse`` that fails over to the next provider, never
a raw exception. Deterministic cases, then hypothesis (fixed seed, bounded examples) over
mutations of a well-formed reply, in both wire formats, sync and async."""

from __future__ import annotations

import asyncio
import base64
import copy
import math
import struct
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from tests.hostile_support import ENV, Answer, AsyncCanned, Canned

import polyroute
from polyroute import errors
from polyroute.catalog._config import load_catalog
from polyroute.embeddings import EmbeddingResponse
from polyroute.testing import FakeClock

DIMS = 4
TEXTS = ["one", "two"]
_SETTINGS = settings(
    derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck), print_blob=False
)


def openai_reply(n: int = len(TEXTS)) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": [0.5, -0.25, 0.125, 1.0]} for i in range(n)],
        "model": "embed-1",
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }


def gemini_reply(n: int = len(TEXTS)) -> dict[str, Any]:
    return {
        "embeddings": [{"values": [0.5, -0.25, 0.125, 1.0]} for _ in range(n)],
        "usageMetadata": {"promptTokenCount": 4},
    }


GOOD = {"openai": openai_reply, "gemini": gemini_reply}


def _router(api: str, bad: Callable[[Any], Answer]) -> polyroute.Router:
    """Model ``emb``: provider ``bad`` first, then ``good``, both speaking ``api``."""
    endpoint = {"model": "embed-1", "dimensions": DIMS, "pricing": {"prompt": "2e-8"}}
    cfg = {
        "providers": {
            "bad": {"api": api, "base_url": "http://bad.test/v1", "api_key": "${BAD_KEY}"},
            "good": {"api": api, "base_url": "http://good.test/v1", "api_key": "${GOOD_KEY}"},
        },
        "models": {
            "emb": {
                "kind": "embedding",
                "endpoints": [{"provider": "bad", **endpoint}, {"provider": "good", **endpoint}],
            }
        },
        "router": {"provider": {"sort": "ordered"}, "retry": {"max_retries": 0}},
    }
    catalog = load_catalog(cfg, env=ENV)

    def good(request: Any) -> Answer:
        n = len(orjson.loads(request.body).get("input") or orjson.loads(request.body).get("requests") or [1])
        return Answer(orjson.dumps(GOOD[api](n)))

    scripts = {"bad": bad, "good": good}
    return polyroute.Router(
        catalog,
        clock=FakeClock(),
        sync_transport=lambda p: Canned(scripts[p.name]),
        async_transport=lambda p: AsyncCanned(scripts[p.name]),
    )


def _embed(router: polyroute.Router, asynchronous: bool) -> EmbeddingResponse:
    if not asynchronous:
        return router.embedding("emb", TEXTS)

    async def main() -> EmbeddingResponse:
        try:
            return await router.aembedding("emb", TEXTS)
        finally:
            await router.aclose()

    return asyncio.run(main())


def _sane(resp: EmbeddingResponse) -> None:
    """A response polyroute returned is real: one finite vector per input, counts and cost plausible."""
    assert len(resp.data) == len(TEXTS)
    for item in resp.data:
        assert len(item.vector) == DIMS and all(math.isfinite(x) for x in item.vector)
    assert resp.usage is not None and 0 <= resp.usage.prompt_tokens <= 2**31 - 1
    route = resp.route
    assert route is not None
    assert route.cost is None or (route.cost.is_finite() and Decimal(0) <= route.cost < 1)
    for attempt in route.attempts:
        assert attempt.cost is None or (attempt.cost.is_finite() and attempt.cost >= 0)


def _b64(*values: float) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def _dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:  # an integer beyond 64 bits: the standard library writes it
        import json

        return json.dumps(obj).encode()


def _with(api: str, edit: Callable[[dict[str, Any]], Any]) -> bytes:
    body = GOOD[api]()
    edit(body)
    return _dumps(body)


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(body: dict[str, Any]) -> None:
        node = body
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


_OPENAI_CASES: dict[str, Callable[[dict[str, Any]], None]] = {
    "data not a list": _set(("data",), "x"),
    "data holds numbers": _set(("data",), [1, 2]),
    "embedding a string of text": _set(("data", 0, "embedding"), "not base64 floats!"),
    "embedding of strings": _set(("data", 0, "embedding"), ["a", "b", "c", "d"]),
    "embedding with a null": _set(("data", 0, "embedding"), [0.5, None, 0.1, 0.2]),
    "embedding an object": _set(("data", 0, "embedding"), {"values": [1, 2, 3, 4]}),
    "embedding empty": _set(("data", 0, "embedding"), []),
    "embedding with a huge integer": _set(("data", 0, "embedding"), [10**400, 0, 0, 0]),
    "embedding NaN (base64)": _set(("data", 0, "embedding"), _b64(math.nan, 0, 0, 0)),
    "embedding infinite (base64)": _set(("data", 1, "embedding"), _b64(0, math.inf, 0, 0)),
    "embedding too short": _set(("data", 1, "embedding"), [0.5, 0.5]),
    "one vector for two inputs": _set(("data",), openai_reply(1)["data"]),
    "three vectors for two inputs": _set(("data",), openai_reply(3)["data"]),
    "index out of range": _set(("data", 1, "index"), 7),
    "index a string": _set(("data", 1, "index"), "1"),
    "negative prompt tokens": _set(("usage", "prompt_tokens"), -5),
    "absurd prompt tokens": _set(("usage", "prompt_tokens"), 2**64 - 1),
    "string prompt tokens": _set(("usage", "prompt_tokens"), "4"),
    "fractional total tokens": _set(("usage", "total_tokens"), 3.5),
    "negative total tokens only": _set(("usage",), {"total_tokens": -1}),
    "usage a string": _set(("usage",), "x"),
    "usage a list": _set(("usage",), [4]),
}
_GEMINI_CASES: dict[str, Callable[[dict[str, Any]], None]] = {
    "embeddings not a list": _set(("embeddings",), {"values": [1]}),
    "values a string": _set(("embeddings", 0, "values"), "x"),
    "values of booleans and strings": _set(("embeddings", 0, "values"), ["1", "2", "3", "4"]),
    "values empty": _set(("embeddings", 1, "values"), []),
    "one vector for two inputs": _set(("embeddings",), gemini_reply(1)["embeddings"]),
    "negative token count": _set(("usageMetadata", "promptTokenCount"), -1),
    "absurd token count": _set(("usageMetadata", "promptTokenCount"), 2**64),
    "string token count": _set(("usageMetadata", "promptTokenCount"), "4"),
    "usageMetadata a string": _set(("usageMetadata",), "x"),
}
CASES = [("openai", name, edit) for name, edit in _OPENAI_CASES.items()] + [
    ("gemini", name, edit) for name, edit in _GEMINI_CASES.items()
]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(("api", "name", "edit"), CASES, ids=[f"{a}: {n}" for a, n, _ in CASES])
def test_a_hostile_embeddings_reply_fails_over(
    api: str, name: str, edit: Callable[[dict[str, Any]], None], asynchronous: bool
) -> None:
    body = _with(api, edit)
    router = _router(api, lambda request: Answer(body))
    try:
        resp = _embed(router, asynchronous)
    finally:
        router.close()
    route = resp.route
    assert route is not None and route.provider == "good", name
    assert [(a.provider, a.error) for a in route.attempts] == [("bad", "MalformedResponse"), ("good", None)]
    _sane(resp)


# -- LiteLLM hands back Python objects: NaN and infinities can get through ------------------------


def _litellm_replies() -> dict[str, Any]:
    def reply(vectors: Any = None, usage: Any = None) -> dict[str, Any]:
        body = openai_reply()
        if vectors is not None:
            for item, vector in zip(body["data"], vectors, strict=True):
                item["embedding"] = vector
        if usage is not None:
            body["usage"] = usage
        return body

    return {
        "NaN in a vector": reply(vectors=[[0.5, math.nan, 0.5, 0.5], [0.5] * 4]),
        "an infinity in a vector": reply(vectors=[[0.5] * 4, [math.inf, 0.5, 0.5, 0.5]]),
        "a vector of None": reply(vectors=[[None] * 4, [0.5] * 4]),
        "negative prompt tokens": reply(usage={"prompt_tokens": -4, "total_tokens": -4}),
        "NaN prompt tokens": reply(usage={"prompt_tokens": math.nan, "total_tokens": 4}),
        "NaN cost": reply(usage={"prompt_tokens": 4, "total_tokens": 4, "cost": math.nan}),
        "negative cost": reply(usage={"prompt_tokens": 4, "total_tokens": 4, "cost": -1.5}),
        "absurd cost": reply(usage={"prompt_tokens": 4, "total_tokens": 4, "cost": 1e12}),
        "data None": {"data": None, "model": "x"},
        "not even a mapping": 5,
    }


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("name", list(_litellm_replies()))
def test_hostile_objects_from_litellm_fail_over(name: str, asynchronous: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    litellm = pytest.importorskip("litellm")
    answer = _litellm_replies()[name]

    def embedding(**kwargs: Any) -> Any:
        return copy.deepcopy(answer)

    async def aembedding(**kwargs: Any) -> Any:
        return copy.deepcopy(answer)

    monkeypatch.setattr(litellm, "embedding", embedding)
    monkeypatch.setattr(litellm, "aembedding", aembedding)
    endpoint = {"dimensions": DIMS, "pricing": {"prompt": "2e-8"}}
    cfg = {
        "providers": {
            "bad": {"api": "litellm", "base_url": "http://bad.test/v1", "api_key": "${BAD_KEY}"},
            "good": {"api": "openai", "base_url": "http://good.test/v1", "api_key": "${GOOD_KEY}"},
        },
        "models": {
            "emb": {
                "kind": "embedding",
                "endpoints": [
                    {"provider": "bad", "model": "openai/embed-1", **endpoint},
                    {"provider": "good", "model": "embed-1", **endpoint},
                ],
            }
        },
        "router": {"provider": {"sort": "ordered"}, "retry": {"max_retries": 0}},
    }
    good = Canned(lambda request: Answer(orjson.dumps(openai_reply())))
    router = polyroute.Router(
        load_catalog(cfg, env=ENV),
        clock=FakeClock(),
        sync_transport=lambda p: good,
        async_transport=lambda p: AsyncCanned(good.script),
    )
    try:
        resp = _embed(router, asynchronous)
    finally:
        router.close()
    assert resp.route is not None
    assert [(a.provider, a.error) for a in resp.route.attempts] == [("bad", "MalformedResponse"), ("good", None)]
    _sane(resp)


# -- hypothesis: mutations of a well-formed reply ---------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 2**64 - 1, 10**400, 1e308, -1e308, 3.5, "NaN", "abc", "", "5"]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from([_b64(math.nan, 0, 0, 0), _b64(1, 2, 3, 4), _b64(1, 2), "AAAA", "!!"]),
)
_hostile = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)
#: extreme numbers, where the reply has numbers (token counts, vector values)
_numbers = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-1, 2**31, 2**64 - 1, 1e308, -1e308, 3.5, True, "4", _b64(math.nan, 0, 0, 0)]),
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("api", ["openai", "gemini"])
def test_mutated_embeddings_replies_fail_over_or_succeed_never_crash(api: str, asynchronous: bool) -> None:
    @settings(_SETTINGS, max_examples=150)
    @seed(12)
    @given(
        numeric=st.booleans(),
        where=st.integers(0, 10_000),
        value=_hostile | _numbers,
        also=st.integers(0, 10_000),
        second=_hostile | _numbers,
    )
    def check(numeric: bool, where: int, value: Any, also: int, second: Any) -> None:
        body = GOOD[api]()
        for index, new in ((where, value), (also, second)):
            paths = list(_paths(body))[1:]
            if numeric:  # aim at the numbers: token counts and vector values
                paths = [p for p in paths if isinstance(_get(body, p), (int, float))] or paths
            path = paths[index % len(paths)]
            node = body
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = new
        raw = _dumps(body)
        router = _router(api, lambda request: Answer(raw))
        try:
            resp = _embed(router, asynchronous)
        except errors.PolyrouteError:
            return  # a typed error is fine (none is expected: the good provider answers)
        finally:
            router.close()
        _sane(resp)

    check()
