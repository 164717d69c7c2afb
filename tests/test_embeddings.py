"""Embeddings through the public API against the simulator: routing, fail-over, batching, cost."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

import polyroute
from polyroute import errors
from polyroute.ledger import MemoryLedger
from polyroute.testing import (
    Disconnect,
    EmbeddingReply,
    ErrorReply,
    FakeClock,
    FunctionBehavior,
    Hang,
    MalformedJSON,
    ProviderSimulator,
    RecordedRequest,
    StreamErrorReply,
    Truncate,
    embedding_vector,
)

PRICE = "2e-8"
DIMS = 8


def emb_endpoint(provider: str, **extra: Any) -> dict[str, Any]:
    return {"provider": provider, "model": "embed-1", "dimensions": DIMS, "pricing": {"prompt": PRICE}, **extra}


@pytest.fixture
def build(sim: ProviderSimulator, clock: FakeClock) -> Iterator[Any]:
    made: list[polyroute.Router] = []

    def factory(
        endpoints: list[dict[str, Any]] | None = None,
        *,
        models: dict[str, Any] | None = None,
        apis: dict[str, str] | None = None,
        router: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> polyroute.Router:
        models = models or {"emb": {"kind": "embedding", "endpoints": endpoints or [emb_endpoint("a")]}}
        providers = {}
        for spec in models.values():
            for ep in spec["endpoints"]:
                name = ep["provider"]
                p = sim.ensure_provider(name, api=(apis or {}).get(name, "openai"), embedding_dimensions=DIMS)
                providers[name] = {"api": p.api, "base_url": p.base_url}
        cfg = {"providers": providers, "models": models, "router": {"provider": {"sort": "ordered"}, **(router or {})}}
        r = polyroute.Router.from_config(cfg, clock=clock, rng=random.Random(7), **kwargs)
        made.append(r)
        return r

    yield factory
    for r in made:
        r.close()


def vectors(texts: list[str], dims: int = DIMS) -> list[list[float]]:
    return [embedding_vector(t, dims) for t in texts]


# -- the response ------------------------------------------------------------------------------


def test_embedding_returns_openai_shape_with_route_and_cost(build: Any, sim: ProviderSimulator) -> None:
    router = build()
    resp = router.embedding("emb", ["hello world", "second text!"])
    dumped = resp.model_dump(mode="json")
    assert dumped["object"] == "list"
    assert [d["object"] for d in dumped["data"]] == ["embedding", "embedding"]
    assert [d["index"] for d in dumped["data"]] == [0, 1]
    assert resp.vectors == vectors(["hello world", "second text!"])
    assert dumped["model"] == "embed-1"
    assert dumped["usage"] == {"prompt_tokens": 5, "total_tokens": 5}  # the simulator: len // 4 each
    assert resp.route is not None
    assert resp.route.provider == "a"
    assert resp.route.cost == 5 * Decimal(PRICE)
    assert [a.outcome for a in resp.route.attempts] == ["success"]
    sent = sim.provider("a").requests[0].json
    assert sent == {"model": "embed-1", "input": ["hello world", "second text!"]}


def test_a_string_input_gives_one_vector(build: Any) -> None:
    resp = build().embedding("emb", "just one")
    assert resp.vectors == vectors(["just one"])


def test_dimensions_and_base64_are_passed_and_honoured(build: Any, sim: ProviderSimulator) -> None:
    router = build([emb_endpoint("a", dimensions=None)])
    resp = router.embedding("emb", ["abc"], dimensions=4, encoding_format="base64")
    assert sim.provider("a").requests[0].json["dimensions"] == 4
    assert sim.provider("a").requests[0].json["encoding_format"] == "base64"
    item = resp.data[0]
    assert isinstance(item.embedding, str)
    assert item.vector == embedding_vector("abc", 4)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"input": []}, "input"),
        ({"input": ["ok", ""]}, "input[1]"),
        ({"input": [[1, 2, 3]]}, "input[0]"),
        ({"input": 5}, "input"),
        ({"input": "x", "dimensions": 0}, "dimensions"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "x", "user": 3}, "user"),
        ({"input": "x", "model": "nope"}, "model"),
    ],
)
def test_bad_requests_fail_before_sending(
    build: Any, sim: ProviderSimulator, kwargs: dict[str, Any], param: str
) -> None:
    router = build()
    kwargs = {"model": "emb", **kwargs}
    with pytest.raises(errors.InvalidRequest) as info:
        router.embedding(**kwargs)
    assert info.value.param == param
    assert sim.provider("a").requests == []


# -- kinds ---------------------------------------------------------------------------------------


def test_chat_and_embedding_models_are_not_interchangeable(build: Any) -> None:
    router = build(
        models={
            "emb": {"kind": "embedding", "endpoints": [emb_endpoint("a")]},
            "chat": {"endpoints": [{"provider": "a", "model": "m"}]},
        }
    )
    with pytest.raises(errors.InvalidRequest, match="an embedding model"):
        router.completion("emb", [{"role": "user", "content": "hi"}])
    with pytest.raises(errors.InvalidRequest, match="a chat model"):
        router.embedding("chat", "hi")
    with pytest.raises(errors.InvalidRequest, match="an embedding model") as info:
        router.completion("chat", [{"role": "user", "content": "hi"}], models=["emb"])
    assert info.value.param == "models[0]"


def _config(models: dict[str, Any], api: str = "openai") -> dict[str, Any]:
    return {"providers": {"a": {"api": api, "base_url": "http://127.0.0.1:9"}}, "models": models}


@pytest.mark.parametrize(
    ("models", "path", "message"),
    [
        (
            {"e": {"kind": "chat", "endpoints": [{"provider": "a", "model": "x", "kind": "embedding"}]}},
            "models.e.endpoints[0].kind",
            "differs",
        ),
        (
            {
                "e": {
                    "endpoints": [
                        {"provider": "a", "model": "x", "kind": "embedding"},
                        {"provider": "a", "model": "y", "kind": "chat"},
                    ]
                }
            },
            "models.e.endpoints[0].kind",
            "differs",
        ),
        (
            {"c": {"endpoints": [{"provider": "a", "model": "x", "dimensions": 3}]}},
            "models.c.endpoints[0].dimensions",
            "only embedding",
        ),
        (
            {
                "e": {
                    "kind": "embedding",
                    "endpoints": [
                        {"provider": "a", "model": "x", "dimensions": 3},
                        {"provider": "a", "model": "y", "dimensions": 4},
                    ],
                }
            },
            "models.e.endpoints",
            "different dimensions",
        ),
        (
            {
                "e": {"kind": "embedding", "endpoints": [{"provider": "a", "model": "x"}], "fallbacks": ["f"]},
                "f": {"kind": "embedding", "endpoints": [{"provider": "a", "model": "y"}]},
            },
            "models.e.fallbacks[0]",
            "not interchangeable",
        ),
        (
            {
                "e": {"kind": "embedding", "endpoints": [{"provider": "a", "model": "x"}], "fallbacks": ["c"]},
                "c": {"endpoints": [{"provider": "a", "model": "y"}]},
            },
            "models.e.fallbacks[0]",
            "chat model",
        ),
        (
            {"c": {"compatible_vectors": True, "endpoints": [{"provider": "a", "model": "y"}]}},
            "models.c.compatible_vectors",
            "only embedding",
        ),
    ],
)
def test_kind_configuration_is_validated(models: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(errors.ConfigError, match=message) as info:
        polyroute.Router.from_config(_config(models))
    assert info.value.path == path


def test_an_api_without_embeddings_is_refused() -> None:
    cfg = _config({"e": {"kind": "embedding", "endpoints": [{"provider": "a", "model": "x"}]}}, api="anthropic")
    with pytest.raises(errors.ConfigError, match="has no embeddings"):
        polyroute.Router.from_config(cfg)


# -- fail-over -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        ErrorReply(503),
        ErrorReply(429, retry_after=30),
        Disconnect(),
        Truncate(),
        MalformedJSON(),
        StreamErrorReply(),
        EmbeddingReply(dimensions=DIMS + 1),
        EmbeddingReply(count=1),
    ],
    ids=["503", "429", "disconnect", "truncate", "malformed", "in-band-error", "wrong-dimensions", "wrong-count"],
)
def test_fails_over_to_another_provider_of_the_same_model(build: Any, sim: ProviderSimulator, fault: Any) -> None:
    router = build([emb_endpoint("a"), emb_endpoint("b")], router={"retry": {"max_retries": 0}})
    sim.provider("a").enqueue(fault)
    resp = router.embedding("emb", ["one", "two"])
    assert resp.vectors == vectors(["one", "two"])
    assert resp.route is not None and resp.route.provider == "b"
    assert [a.outcome for a in resp.route.attempts] == ["error", "success"]


def test_a_hanging_provider_times_out_and_fails_over(sim: ProviderSimulator, build: Any) -> None:
    sim.add_provider("a", embedding_dimensions=DIMS)
    router = build(
        [emb_endpoint("a"), emb_endpoint("b")], router={"retry": {"max_retries": 0}, "timeout": {"read": 0.2}}
    )
    sim.provider("a").enqueue(Hang())
    resp = router.embedding("emb", "x")
    assert resp.route is not None and resp.route.provider == "b"
    assert resp.route.attempts[0].error == "ReadTimeout"


def test_cross_model_fallback_is_refused_unless_declared_compatible(build: Any, sim: ProviderSimulator) -> None:
    router = build(
        models={
            "e1": {"kind": "embedding", "endpoints": [emb_endpoint("a")]},
            "e2": {"kind": "embedding", "endpoints": [emb_endpoint("b")]},
            "e3": {"kind": "embedding", "endpoints": [emb_endpoint("b", dimensions=DIMS * 2)]},
        }
    )
    with pytest.raises(errors.InvalidRequest, match="not interchangeable") as info:
        router.embedding("e1", "x", models=["e2"])
    assert info.value.param == "models"
    assert sim.provider("a").requests == []
    sim.provider("a").enqueue(ErrorReply(401))
    resp = router.embedding("e1", "x", models=["e2"], compatible_vectors=True)
    assert resp.route is not None and (resp.route.model, resp.route.provider) == ("e2", "b")
    with pytest.raises(errors.InvalidRequest, match="different sizes"):
        router.embedding("e1", "x", models=["e3"], compatible_vectors=True)


def test_configured_fallbacks_need_compatible_vectors(build: Any, sim: ProviderSimulator) -> None:
    router = build(
        models={
            "e1": {
                "kind": "embedding",
                "endpoints": [emb_endpoint("a")],
                "fallbacks": ["e2"],
                "compatible_vectors": True,
            },
            "e2": {"kind": "embedding", "endpoints": [emb_endpoint("b")]},
        }
    )
    sim.provider("a").set_default(ErrorReply(500))
    resp = router.embedding("e1", ["x"])
    assert resp.route is not None and resp.route.model == "e2"


def test_every_provider_failing_raises_with_the_attempts(build: Any, sim: ProviderSimulator) -> None:
    router = build([emb_endpoint("a"), emb_endpoint("b")], router={"retry": {"max_retries": 0}})
    sim.provider("a").set_default(ErrorReply(500))
    sim.provider("b").set_default(EmbeddingReply(dimensions=3))
    with pytest.raises(errors.NoEndpointAvailable) as info:
        router.embedding("emb", "x")
    assert [a.error for a in info.value.attempts] == ["ServerError", "MalformedResponse"]


# -- batches ---------------------------------------------------------------------------------------


TEXTS = [f"document number {i}" for i in range(10)]


def test_large_inputs_are_split_and_reassembled_in_order(build: Any, sim: ProviderSimulator) -> None:
    router = build([emb_endpoint("a", max_batch_items=3)])
    resp = router.embedding("emb", TEXTS)
    assert resp.vectors == vectors(TEXTS)
    assert [d.index for d in resp.data] == list(range(10))
    assert [r.json["input"] for r in sim.provider("a").requests] == [TEXTS[0:3], TEXTS[3:6], TEXTS[6:9], TEXTS[9:]]
    assert resp.route is not None and len(resp.batches) == 4
    assert resp.usage is not None and resp.usage.prompt_tokens == sum(len(t) // 4 for t in TEXTS)
    assert resp.route.cost == resp.usage.prompt_tokens * Decimal(PRICE)
    assert len({r.request_id for r in resp.batches}) == 1


def test_batches_respect_the_token_limit(build: Any, sim: ProviderSimulator) -> None:
    router = build([emb_endpoint("a", max_batch_tokens=40)])
    router.embedding("emb", TEXTS)
    sizes = [len(r.json["input"]) for r in sim.provider("a").requests]
    assert sum(sizes) == 10 and len(sizes) > 1
    for r in sim.provider("a").requests:  # at most 40 tokens (counted as bytes without tiktoken)
        assert len(r.json["input"]) == 1 or sum(len(t) for t in r.json["input"]) <= 40 * 4


def test_the_smallest_limit_among_the_endpoints_applies(build: Any, sim: ProviderSimulator) -> None:
    router = build([emb_endpoint("a", max_batch_items=5), emb_endpoint("b", max_batch_items=2)])
    router.embedding("emb", TEXTS[:4])
    assert [len(r.json["input"]) for r in sim.provider("a").requests] == [2, 2]


def _fail_batches_containing(text: str) -> FunctionBehavior:
    def decide(request: RecordedRequest) -> Any:
        body = request.json or {}
        return ErrorReply(503) if text in body.get("input", ()) else EmbeddingReply()

    return FunctionBehavior(decide)


def test_a_failed_batch_fails_over_on_its_own(build: Any, sim: ProviderSimulator) -> None:
    ledger = MemoryLedger()
    router = build(
        [emb_endpoint("a", max_batch_items=4), emb_endpoint("b")], router={"retry": {"max_retries": 0}}, ledger=ledger
    )
    sim.provider("a").set_default(_fail_batches_containing(TEXTS[5]))
    resp = router.embedding("emb", TEXTS)
    assert resp.vectors == vectors(TEXTS)
    assert [r.provider for r in resp.batches] == ["a", "b", "a"]
    rows = list(ledger.rows())
    assert [(r.provider, r.outcome, r.kind) for r in rows] == [
        ("a", "success", "embedding"),
        ("a", "error", "embedding"),
        ("b", "success", "embedding"),
        ("a", "success", "embedding"),
    ]
    assert len({r.request_id for r in rows}) == 1
    assert resp.route is not None and sum((r.cost or Decimal(0)) for r in rows) == resp.route.cost
    assert [r.prompt_tokens for r in rows] == [
        sum(len(t) // 4 for t in TEXTS[0:4]),
        0,
        sum(len(t) // 4 for t in TEXTS[4:8]),
        sum(len(t) // 4 for t in TEXTS[8:]),
    ]


@pytest.mark.asyncio
async def test_async_batches_run_concurrently_and_come_back_in_order(build: Any, sim: ProviderSimulator) -> None:
    router = build([emb_endpoint("a", max_batch_items=2), emb_endpoint("b")], router={"retry": {"max_retries": 0}})
    sim.provider("a").set_default(_fail_batches_containing(TEXTS[3]))
    try:
        resp = await router.aembedding("emb", TEXTS, max_concurrency=3)
    finally:
        await router.aclose()
    assert resp.vectors == vectors(TEXTS)
    assert [r.provider for r in resp.batches] == ["a", "b", "a", "a", "a"]


@pytest.mark.asyncio
async def test_async_failure_of_one_batch_cancels_the_rest(build: Any, sim: ProviderSimulator) -> None:
    router = build([emb_endpoint("a", max_batch_items=2)], router={"retry": {"max_retries": 0}})
    sim.provider("a").set_default(_fail_batches_containing(TEXTS[0]))
    try:
        with pytest.raises(errors.NoEndpointAvailable):
            await router.aembedding("emb", TEXTS, max_concurrency=1)
    finally:
        await router.aclose()
    assert len(sim.provider("a").requests) < 5


def test_async_and_sync_agree(build: Any) -> None:
    router = build([emb_endpoint("a", max_batch_items=3)])

    async def run() -> Any:
        try:
            return await router.aembedding("emb", TEXTS)
        finally:
            await router.aclose()

    assert asyncio.run(run()).vectors == router.embedding("emb", TEXTS).vectors


# -- Gemini, and estimated usage -----------------------------------------------------------------


def test_gemini_embed_content_and_batch(build: Any, sim: ProviderSimulator) -> None:
    ledger = MemoryLedger()
    router = build([emb_endpoint("g")], apis={"g": "gemini"}, ledger=ledger)
    one = router.embedding("emb", "solo")
    many = router.embedding("emb", ["first", "second"], dimensions=4)
    paths = [r.path for r in sim.provider("g").requests]
    assert paths == ["/g/v1beta/models/embed-1:embedContent", "/g/v1beta/models/embed-1:batchEmbedContents"]
    assert sim.provider("g").requests[1].json["requests"][0] == {
        "model": "models/embed-1",
        "content": {"parts": [{"text": "first"}]},
        "outputDimensionality": 4,
    }
    assert one.vectors == vectors(["solo"])
    assert many.vectors == vectors(["first", "second"], 4)
    # Gemini reports no usage: estimated from the text, and marked so
    assert many.usage is not None and many.usage.estimated
    assert many.model_dump()["usage"]["estimated"] is True
    assert many.route is not None and many.route.cost == many.usage.prompt_tokens * Decimal(PRICE)
    assert all(r.usage_estimated for r in ledger.rows())


def test_missing_usage_is_estimated_on_openai_compatible_too(build: Any, sim: ProviderSimulator) -> None:
    router = build()
    sim.provider("a").enqueue(EmbeddingReply(usage=False))
    resp = router.embedding("emb", ["some words here"])
    assert resp.usage is not None and resp.usage.estimated and resp.usage.prompt_tokens > 0


# -- budgets -------------------------------------------------------------------------------------


def test_budgets_apply_to_embeddings(sim: ProviderSimulator) -> None:
    a = sim.add_provider("a", embedding_dimensions=DIMS)
    cfg = {
        "providers": {"a": {"base_url": a.base_url}},
        "models": {"emb": {"kind": "embedding", "endpoints": [emb_endpoint("a", pricing={"prompt": "0.01"})]}},
        "budgets": [{"scope": "user", "match": "*", "limit_usd": "0.5", "period": "day"}],
    }
    with polyroute.Router.from_config(cfg) as budgeted:
        resp = budgeted.embedding("emb", "ab", user="u1")  # reserves the byte bound, charges 1 token
        assert resp.route is not None and resp.route.cost == Decimal("0.01")
        with pytest.raises(errors.BudgetExceeded):
            budgeted.embedding("emb", "x" * 400, user="u1")
    assert len(a.requests) == 1


# -- usage reports -------------------------------------------------------------------------------


def test_usage_report_shows_embeddings_apart_from_chat(sim: ProviderSimulator, tmp_path: Any) -> None:
    import json

    from typer.testing import CliRunner

    from polyroute.cli import _chat, _demo, _models, _usage, app  # noqa: F401  (registers the commands)

    a = sim.add_provider("a", embedding_dimensions=DIMS)
    db = tmp_path / "usage.db"
    cfg = {
        "providers": {"a": {"base_url": a.base_url}},
        "models": {
            "emb": {"kind": "embedding", "endpoints": [emb_endpoint("a", max_batch_items=2)]},
            "chat": {
                "endpoints": [{"provider": "a", "model": "m", "pricing": {"prompt": "1e-6", "completion": "2e-6"}}]
            },
        },
        "ledger": {"url": str(db)},
    }
    with polyroute.Router.from_config(cfg) as router:
        router.embedding("emb", TEXTS[:5])
        router.completion("chat", [{"role": "user", "content": "hi"}])
    result = CliRunner().invoke(app, ["usage", "--ledger", str(db), "--format", "json"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    got = sorted((r["kind"], r["model"], r["requests"], r["attempts"]) for r in records)
    assert got == [("chat", "chat", 1, 1), ("embedding", "emb", 1, 3)]
