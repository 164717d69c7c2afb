"""``make_plan`` on its own: hand-built catalogs, hand-built health and statistics, a seeded RNG.

No router, no simulator: each test builds the inputs of the pure planning function and reads
the plan (order, reasons, exclusions with their reasons).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from typing import Any

import pytest

from polyroute._request import ChatRequest
from polyroute.catalog._catalog import Catalog
from polyroute.catalog._config import load_catalog
from polyroute.errors import InvalidRequest
from polyroute.health._stats import Percentiles, Signals
from polyroute.routing._planner import Plan, make_plan, resolve_models
from polyroute.routing._sticky import StickySessions, conversation_key
from polyroute.routing._strategies import Option, Ranked

USER = [{"role": "user", "content": "hello there"}]


def ep(provider: str, price: float | None = 1.0, **extra: Any) -> dict[str, Any]:
    """An endpoint at ``price`` USD per million tokens (prompt and completion; ``None``: unpriced)."""
    out: dict[str, Any] = {"provider": provider, "model": f"{provider}-model", **extra}
    if price is not None:
        out["pricing"] = {"prompt": f"{price}e-6", "completion": f"{price}e-6"}
    return out


def catalog(
    models: dict[str, list[dict[str, Any]]],
    *,
    router: dict[str, Any] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
) -> Catalog:
    providers = {e["provider"] for eps in models.values() for e in eps}
    config = {
        "providers": {p: {"base_url": f"http://{p}.invalid/v1", "api_key": "${KEY}"} for p in sorted(providers)},
        "models": {m: {"endpoints": eps, **(options or {}).get(m, {})} for m, eps in models.items()},
        "router": router or {},
    }
    return load_catalog(config, env={"KEY": "sk-test"})


def request(
    model: str = "m", *, models: Sequence[str] = (), provider: dict[str, Any] | None = None, **params: Any
) -> ChatRequest:
    messages = params.pop("messages", USER)
    session_id = params.pop("session_id", None)
    return ChatRequest(
        models=(model, *models), messages=messages, params=params, provider=provider, session_id=session_id
    )


class Measured(Signals):
    """Signals with fixed percentiles (what the live statistics would report)."""

    __slots__ = ("_fixed_throughput", "_fixed_ttft")

    def __init__(self, *, ttft_p50: float | None = None, tps_p50: float | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self._fixed_ttft = _pct(ttft_p50)
        self._fixed_throughput = _pct(tps_p50)

    @property
    def ttft(self) -> Percentiles | None:
        return self._fixed_ttft

    @property
    def throughput(self) -> Percentiles | None:
        return self._fixed_throughput


def _pct(p50: float | None) -> Percentiles | None:
    return None if p50 is None else Percentiles(p50, p50, p50, p50, p50, samples=50)


class Health:
    """A hand-built health view: open circuits, statistics, requests in flight."""

    def __init__(
        self,
        *,
        open_: Collection[str] = (),
        signals: dict[str, Signals] | None = None,
        in_flight: dict[str, int] | None = None,
    ) -> None:
        self.open = set(open_)
        self._signals = signals or {}
        self._in_flight = in_flight or {}

    def available(self, key: str, now: float) -> bool:
        return key not in self.open

    def signals(self, key: str, now: float) -> Signals:
        return self._signals.get(key, Signals())

    def in_flight(self, key: str) -> int:
        return self._in_flight.get(key, 0)

    @property
    def failing(self) -> Collection[str]:
        return {k for k, s in self._signals.items() if s.failing}


NOW = 1_000.0


def plan(cat: Catalog, req: ChatRequest, health: Health | None = None, *, seed: int = 1, **kw: Any) -> Plan:
    return make_plan(req, cat, health or Health(), NOW, random.Random(seed), **kw)


def order(p: Plan) -> list[str]:
    return [c.endpoint.provider for c in p.candidates]


def reasons(p: Plan) -> list[str]:
    return [c.reason for c in p.candidates]


def excluded(p: Plan) -> dict[str, str]:
    return {e.endpoint.provider: e.reason for e in p.excluded}


THREE = {"m": [ep("a", 3.0), ep("b", 1.0), ep("c", 2.0)]}


# -- models ---------------------------------------------------------------------------------------


def test_unknown_models_name_the_parameter_and_the_known_ones() -> None:
    cat = catalog(THREE)
    with pytest.raises(InvalidRequest) as info:
        plan(cat, request("nope"))
    assert info.value.param == "model"
    assert "unknown model 'nope' (known models: m)" in str(info.value)
    with pytest.raises(InvalidRequest) as info:
        plan(cat, request("m", models=["zzz"]))
    assert info.value.param == "models[0]"


def test_fallback_models_follow_the_primary_and_say_so() -> None:
    cat = catalog({"m": [ep("a")], "n": [ep("b")], "o": [ep("c")]}, options={"m": {"fallbacks": ["n"]}})
    p = plan(cat, request("m"))
    assert order(p) == ["a", "b"]
    assert p.candidates[1].reason.startswith("fallback model 'n'; ")
    assert [s.name for s in resolve_models(cat, request("m"))] == ["m", "n"]
    # an explicit model list replaces configured fallbacks; a repeated model counts once
    assert order(plan(cat, request("m", models=["o", "m"]))) == ["a", "c"]


def test_partition_none_ranks_every_models_endpoints_together() -> None:
    cat = catalog({"m": [ep("a", 3.0)], "n": [ep("b", 1.0)]})
    p = plan(cat, request("m", models=["n"], provider={"sort": {"by": "price", "partition": "none"}}))
    assert order(p) == ["b", "a"]
    assert reasons(p) == ["price across models: lowest cost first"] * 2
    assert [c.model for c in p.candidates] == ["n", "m"]


# -- strategies ------------------------------------------------------------------------------------


def test_the_default_draws_the_first_by_inverse_square_price_then_cheapest_first() -> None:
    cat = catalog(THREE)
    firsts = {order(plan(cat, request(), seed=s))[0] for s in range(40)}
    assert firsts == {"a", "b", "c"}
    p = plan(cat, request(), seed=3)
    assert sorted(order(p)[1:], key="bca".index) == order(p)[1:]  # the rest by price
    assert "drawn by inverse-square price weighting" in p.candidates[0].reason
    assert all(r == "default: fallback, cheapest first" for r in reasons(p)[1:])
    # weights 1/9 : 1 : 1/4 -> b is drawn about 73% of the time
    wins = sum(order(plan(cat, request(), seed=s))[0] == "b" for s in range(400))
    assert 0.65 < wins / 400 < 0.8


def test_the_default_puts_unpriced_endpoints_last_and_draws_among_free_ones() -> None:
    cat = catalog({"m": [ep("x", None), ep("f1", 0.0), ep("f2", 0.0), ep("p", 1.0)]})
    p = plan(cat, request())
    assert order(p)[0] in {"f1", "f2"} and order(p)[-1] == "x"
    assert p.candidates[0].reason == "default: free; drawn among 2 free endpoints"
    assert p.candidates[-1].reason == "default: price unknown: after the priced endpoints"
    unpriced = plan(catalog({"m": [ep("x", None), ep("y", None)]}), request())
    assert order(unpriced) == ["x", "y"]
    assert reasons(unpriced) == ["default: no prices known: configured order"] * 2


@pytest.mark.parametrize(
    ("sort", "expected", "reason"),
    [
        ("price", ["b", "c", "a"], "price: lowest cost first"),
        ("latency", ["c", "a", "b"], "latency: "),
        ("throughput", ["b", "a", "c"], "throughput: "),
        ("least_busy", ["c", "b", "a"], "least_busy: "),
        ("ordered", ["a", "b", "c"], "ordered: "),
    ],
)
def test_each_builtin_sort_orders_by_its_signal(sort: str, expected: list[str], reason: str) -> None:
    health = Health(
        signals={
            "a/a-model": Signals(successes=9, ttft_recent=0.4, throughput_recent=60.0),
            "b/b-model": Signals(successes=9, ttft_recent=0.9, throughput_recent=120.0),
            "c/c-model": Signals(successes=9, ttft_recent=0.2, throughput_recent=30.0),
        },
        in_flight={"a/a-model": 7, "b/b-model": 3, "c/c-model": 0},
    )
    p = plan(catalog(THREE), request(provider={"sort": sort}), health)
    assert order(p) == expected
    assert p.candidates[0].reason.startswith(reason)


def test_floor_and_nitro_suffixes_pick_price_and_throughput() -> None:
    health = Health(
        signals={
            "a/a-model": Signals(successes=5, throughput_recent=500.0),
            "b/b-model": Signals(successes=5, throughput_recent=50.0),
            "c/c-model": Signals(successes=5, throughput_recent=80.0),
        }
    )
    cat = catalog(THREE)
    assert order(plan(cat, request("m:floor"), health)) == ["b", "c", "a"]
    assert order(plan(cat, request("m:nitro"), health))[0] == "a"


def test_weights_follow_the_configured_weight() -> None:
    cat = catalog({"m": [ep("a", weight=1), ep("b", weight=0), ep("c", weight=3)]})
    firsts = [order(plan(cat, request(provider={"sort": "weighted"}), seed=s))[0] for s in range(200)]
    assert "b" not in firsts and 0.65 < firsts.count("c") / 200 < 0.85


def test_unknown_strategy_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest) as info:
        plan(catalog(THREE), request(provider={"sort": "vibes"}))
    assert info.value.param is not None and info.value.param.startswith("provider.sort")


def test_a_custom_strategy_returning_a_partial_ranking_keeps_every_endpoint() -> None:
    class OnlyFirst:
        def rank(self, options: Sequence[Option], rng: random.Random) -> list[Ranked]:
            return [(options[-1], "mine"), (options[-1], "twice"), (Option("m", options[0].endpoint, 9, None), "alien")]

    p = plan(catalog(THREE), request(provider={"sort": "mine"}), strategies={"mine": OnlyFirst()})
    assert order(p) == ["c", "a", "b"]
    assert reasons(p) == [
        "mine: mine",
        "mine: left out by the strategy: configured order",
        "mine: left out by the strategy: configured order",
    ]


# -- preferences: order, only, ignore, fallbacks -----------------------------------------------------


def test_order_goes_first_then_the_rest_by_price() -> None:
    p = plan(catalog(THREE), request(provider={"order": ["c"]}))
    assert order(p) == ["c", "b", "a"]
    assert reasons(p) == [
        "provider.order position 1",
        "after provider.order, by price: lowest cost first",
        "after provider.order, by price: lowest cost first",
    ]


def test_order_without_fallbacks_excludes_the_others() -> None:
    p = plan(catalog(THREE), request(provider={"order": ["c", "A"], "allow_fallbacks": False}))
    assert order(p) == ["c", "a"]  # case does not matter
    assert excluded(p) == {"b": "not in provider.order, and provider.allow_fallbacks is false"}


def test_no_fallbacks_without_order_keeps_only_the_top_endpoint() -> None:
    p = plan(catalog(THREE), request(provider={"allow_fallbacks": False, "sort": "price"}))
    assert order(p) == ["b"]
    assert set(excluded(p)) == {"a", "c"}
    assert set(excluded(p).values()) == {"provider.allow_fallbacks is false: only the top endpoint is used"}


def test_only_and_ignore_by_provider_or_endpoint_key() -> None:
    cat = catalog(THREE)
    p = plan(cat, request(provider={"only": ["a", "c/c-model"]}))
    assert sorted(order(p)) == ["a", "c"]
    assert excluded(p) == {"b": "not in provider.only"}
    p = plan(cat, request(provider={"ignore": ["b"]}))
    assert excluded(p) == {"b": "provider.ignore lists it"}


def test_router_model_and_request_layers_merge_key_by_key() -> None:
    cat = catalog(
        THREE,
        router={"provider": {"sort": "price", "ignore": ["a"]}},
        options={"m": {"provider": {"ignore": ["c"]}}},
    )
    assert order(plan(cat, request())) == ["b", "a"]  # the model's ignore replaced the router's
    assert order(plan(cat, request(provider={"ignore": []}))) == ["b", "c", "a"]


# -- filters: data policy, quantization, price caps -------------------------------------------------


def test_data_policy_filters() -> None:
    cat = catalog(
        {"m": [ep("keeps", data_collection="allow"), ep("zdr", zdr=True), ep("quiet", data_collection="deny")]}
    )
    p = plan(cat, request(provider={"data_collection": "deny"}))
    assert excluded(p) == {
        "keeps": "it may retain prompts (data_collection: allow) and provider.data_collection is 'deny'"
    }
    p = plan(cat, request(provider={"zdr": True}))
    assert order(p) == ["zdr"]
    assert excluded(p)["quiet"] == "not declared zero-data-retention (zdr) and provider.zdr is true"


def test_quantizations_exclude_other_and_unknown_ones() -> None:
    cat = catalog({"m": [ep("fp8", quantization="fp8"), ep("bf16", quantization="bf16"), ep("plain")]})
    p = plan(cat, request(provider={"quantizations": ["fp8"]}))
    assert order(p) == ["fp8"]
    assert excluded(p) == {
        "bf16": "quantization 'bf16' is not in provider.quantizations",
        "plain": "quantization 'unknown' is not in provider.quantizations",
    }


def test_max_price_excludes_dearer_and_unpriced_endpoints() -> None:
    cat = catalog({"m": [ep("cheap", 1.0), ep("dear", 5.0), ep("unknown", None)]})
    p = plan(cat, request(provider={"max_price": {"prompt": 2}}))
    assert order(p) == ["cheap"]
    assert excluded(p) == {
        "dear": "prompt price $5/M is above provider.max_price.prompt $2/M",
        "unknown": "its prompt price is unknown, so provider.max_price.prompt cannot be honoured",
    }
    fee = catalog(
        {"m": [ep("fee", None, pricing={"prompt": "1e-6", "completion": "1e-6", "request": "0.01"}), ep("nofee")]}
    )
    assert excluded(plan(fee, request(provider={"max_price": {"request": 0.001}}))) == {
        "fee": "per-request fee $0.01 is above provider.max_price.request $0.001"
    }


def test_invalid_preferences_name_their_path() -> None:
    with pytest.raises(InvalidRequest) as info:
        plan(catalog(THREE), request(provider={"max_price": {"prompt": "lots"}}))
    assert info.value.param == "provider.max_price.prompt"


# -- capabilities and context ---------------------------------------------------------------------


TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


def test_a_missing_capability_demotes_or_with_require_parameters_excludes() -> None:
    cat = catalog({"m": [ep("plain", 0.5, capabilities=["streaming"]), ep("tools", 2.0, capabilities=["tools"])]})
    p = plan(cat, request(tools=TOOLS, provider={"sort": "price"}))
    assert order(p) == ["tools", "plain"]
    assert p.candidates[1].reason == "it does not declare tools: moved after the endpoints that support the request"
    p = plan(cat, request(tools=TOOLS, provider={"require_parameters": True}))
    assert order(p) == ["tools"]
    assert excluded(p) == {"plain": "it does not declare tools, and provider.require_parameters is true"}


def test_max_tokens_above_an_endpoints_output_limit_demotes_it() -> None:
    cat = catalog({"m": [ep("short", 0.5, max_output_tokens=100), ep("long", 2.0)]})
    p = plan(cat, request(max_tokens=500, provider={"sort": "price"}))
    assert order(p) == ["long", "short"]
    assert p.candidates[1].reason.startswith("max_tokens 500 is above its max_output_tokens 100")


def test_a_prompt_that_cannot_fit_is_excluded_with_its_size() -> None:
    big = [{"role": "user", "content": "word " * 4_000}]
    cat = catalog({"m": [ep("small", 0.5, context_length=1_000), ep("large", 2.0, context_length=100_000)]})
    p = plan(cat, request(messages=big))
    assert order(p) == ["large"]
    assert "cannot fit its context of 1,000" in excluded(p)["small"]
    assert p.prompt_tokens is not None and p.prompt_tokens >= 4_000


def test_max_tokens_counts_against_the_context() -> None:
    cat = catalog({"m": [ep("small", 0.5, context_length=1_000), ep("large", 2.0)]})
    p = plan(cat, request(max_tokens=2_000))
    assert order(p) == ["large"]
    assert "+ max_tokens 2000 cannot fit its context of 1,000" in excluded(p)["small"]


# -- health -----------------------------------------------------------------------------------------


def test_an_open_circuit_moves_the_endpoint_to_the_end() -> None:
    p = plan(catalog(THREE), request(provider={"sort": "price"}), Health(open_={"b/b-model"}))
    assert order(p) == ["c", "a", "b"]
    assert p.candidates[-1].reason == "circuit open: moved to the end"


def test_a_recent_outage_goes_behind_the_stable_endpoints_under_the_default_only() -> None:
    health = Health(signals={"b/b-model": Signals(failures=1, failing=True, last_failure=NOW - 12)})
    p = plan(catalog(THREE), request(), health)
    assert order(p)[-1] == "b"
    assert p.candidates[-1].reason.startswith("recent outage (failed 12 s ago): behind stable endpoints; ")
    # older than the outage window (30 s): stable again
    old = Health(signals={"b/b-model": Signals(failures=1, failing=True, last_failure=NOW - 31)})
    assert "b" in {order(plan(catalog(THREE), request(), old, seed=s))[0] for s in range(20)}
    # an explicit sort follows its own criterion
    assert order(plan(catalog(THREE), request(provider={"sort": "price"}), health))[0] == "b"


def test_preferred_latency_and_throughput_demote_the_endpoints_that_miss_them() -> None:
    health = Health(
        signals={"b/b-model": Measured(successes=50, ttft_p50=3.0), "c/c-model": Measured(successes=50, tps_p50=10.0)}
    )
    cat = catalog(THREE)
    p = plan(cat, request(provider={"sort": "price", "preferred_max_latency": 1}), health)
    assert order(p) == ["c", "a", "b"]
    assert p.candidates[-1].reason == "TTFT p50 3.00 s is above provider.preferred_max_latency 1 s: deprioritised"
    p = plan(cat, request(provider={"sort": "price", "preferred_min_throughput": {"p50": 50}}), health)
    assert order(p) == ["b", "a", "c"]
    assert p.candidates[-1].reason == (
        "throughput p50 10 tok/s is below provider.preferred_min_throughput 50: deprioritised"
    )


# -- sticky sessions --------------------------------------------------------------------------------


def test_a_sticky_session_moves_its_endpoint_to_the_front() -> None:
    sticky = StickySessions(window=600, now=lambda: NOW)
    req = request(session_id="s1", provider={"sort": "price"})
    key = conversation_key(req)
    assert key is not None
    sticky.remember("m", key, "a/a-model", NOW - 30)
    p = plan(catalog(THREE), req, sticky=sticky)
    assert order(p) == ["a", "b", "c"]
    assert p.candidates[0].reason.startswith("sticky: served this conversation 30 s ago")
    # not while the endpoint is in a recent outage
    health = Health(signals={"a/a-model": Signals(failures=1, failing=True, last_failure=NOW - 1)})
    assert order(plan(catalog(THREE), req, health, sticky=sticky)) == ["b", "c", "a"]
    # nor when provider.order decides
    ordered = request(session_id="s1", provider={"order": ["c"]})
    assert order(plan(catalog(THREE), ordered, sticky=sticky))[0] == "c"


# -- the plan as text and data ------------------------------------------------------------------------


def test_explain_and_model_dump_list_candidates_and_exclusions() -> None:
    p = plan(catalog(THREE), request(provider={"sort": "price", "ignore": ["a"]}, max_tokens=100))
    assert p.explain().splitlines() == [
        "1. m via b/b-model (est. $0.000111): price: lowest cost first",
        "2. m via c/c-model (est. $0.000222): price: lowest cost first",
        "-  m via a/a-model: excluded: provider.ignore lists it",
    ]
    dumped = p.model_dump()
    assert [c["endpoint"] for c in dumped["candidates"]] == ["b/b-model", "c/c-model"]
    assert dumped["excluded"] == [{"model": "m", "endpoint": "a/a-model", "reason": "provider.ignore lists it"}]
    assert Plan(()).explain() == "(no endpoints)"
