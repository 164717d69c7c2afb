"""Provider preferences with OpenRouter's semantics, through router.plan() and real calls."""

from __future__ import annotations

import pytest
from tests.routing_support import USER, ep, excluded, order, routed

import polyroute
from polyroute import errors
from polyroute.testing import ErrorReply

THREE = {"m": [ep("a", 1.0), ep("b", 2.0), ep("c", 3.0)]}


@pytest.mark.parametrize(
    ("provider", "param"),
    [
        ({"max_price": {"prompt": "cheap"}}, "provider.max_price.prompt"),
        ({"max_price": {"completion": -1}}, "provider.max_price.completion"),
        ({"max_price": {"tokens": 1}}, "provider.max_price.tokens"),
        ({"order": "a"}, "provider.order"),
        ({"only": ["a", 3]}, "provider.only[1]"),
        ({"allow_fallbacks": "no"}, "provider.allow_fallbacks"),
        ({"data_collection": "never"}, "provider.data_collection"),
        ({"sort": "fastest"}, "provider.sort"),
        ({"sort": {"by": "price", "partition": "all"}}, "provider.sort.partition"),
        ({"preferred_max_latency": {"p42": 1}}, "provider.preferred_max_latency.p42"),
        ({"colour": "blue"}, "provider.colour"),
        ({"enforce_distillable_text": True}, "provider.enforce_distillable_text"),
    ],
)
def test_bad_preferences_are_rejected_before_sending(provider: dict, param: str) -> None:
    with routed(THREE) as (router, sim, _):
        with pytest.raises(errors.InvalidRequest) as info:
            router.completion(model="m", messages=USER, provider=provider)
    assert info.value.param == param
    assert all(p.requests == [] for p in sim.providers)


def test_bad_config_preferences_name_the_key_path() -> None:
    with pytest.raises(errors.ConfigError) as info:
        with routed(THREE, model_options={"m": {"provider": {"max_price": {"prompt": "x"}}}}):
            pass
    assert info.value.path == "models.m.provider.max_price.prompt"
    with pytest.raises(errors.ConfigError) as info:
        with routed(THREE, router={"provider": {"sort": "nope"}}):
            pass
    assert info.value.path == "router.provider.sort"


def test_order_tries_listed_providers_first_then_falls_back() -> None:
    with routed(THREE) as (router, sim, _):
        plan = router.plan("m", USER, provider={"order": ["c", "b"]})
        assert order(plan) == ["c", "b", "a"]
        assert [c.reason for c in plan.candidates][:2] == ["provider.order position 1", "provider.order position 2"]
        sim.provider("c").set_default(ErrorReply(503))
        resp = router.completion(model="m", messages=USER, provider={"order": ["c", "b"]})
    assert [(a.provider, a.outcome) for a in resp.route.attempts] == [("c", "error"), ("b", "success")]


def test_order_without_fallbacks_uses_only_the_listed_providers() -> None:
    with routed(THREE) as (router, sim, _):
        prefs = {"order": ["c"], "allow_fallbacks": False}
        assert order(router.plan("m", USER, provider=prefs)) == ["c"]
        sim.provider("c").set_default(ErrorReply(503))
        with pytest.raises(errors.NoEndpointAvailable):
            router.completion(model="m", messages=USER, provider=prefs)
    assert sim.provider("a").requests == [] and sim.provider("b").requests == []


def test_no_fallbacks_without_order_keeps_only_the_top_endpoint() -> None:
    with routed(THREE) as (router, _, _):
        plan = router.plan("m", USER, provider={"sort": "price", "allow_fallbacks": False})
    assert order(plan) == ["a"]
    assert "only the top endpoint" in excluded(plan)["b"]


def test_only_and_ignore_match_provider_names_and_endpoint_keys() -> None:
    with routed(THREE) as (router, _, _):
        assert sorted(order(router.plan("m", USER, provider={"only": ["A", "c/c-model"]}))) == ["a", "c"]
        plan = router.plan("m", USER, provider={"ignore": ["b"]})
    assert sorted(order(plan)) == ["a", "c"]
    assert excluded(plan) == {"b": "provider.ignore lists it"}


def test_data_collection_zdr_and_quantizations_filter_declared_endpoints() -> None:
    models = {
        "m": [
            ep("a", data_collection="allow", quantization="fp8"),
            ep("b", data_collection="deny", zdr=True, quantization="bf16"),
            ep("c"),
        ]
    }
    with routed(models) as (router, _, _):
        assert sorted(order(router.plan("m", USER, provider={"data_collection": "deny"}))) == ["b", "c"]
        assert order(router.plan("m", USER, provider={"zdr": True})) == ["b"]
        plan = router.plan("m", USER, provider={"quantizations": ["fp8", "unknown"]})
    assert sorted(order(plan)) == ["a", "c"]
    assert "'bf16' is not in provider.quantizations" in excluded(plan)["b"]


def test_max_price_is_a_hard_filter_in_usd_per_million_tokens() -> None:
    models = {"m": [ep("a", 1.0), ep("b", 2.0), {"provider": "c", "model": "c-model"}]}
    with routed(models) as (router, sim, _):
        plan = router.plan("m", USER, provider={"max_price": {"prompt": 1.5, "completion": "1.5"}})
        assert order(plan) == ["a"]
        assert excluded(plan)["b"] == "prompt price $2/M is above provider.max_price.prompt $1.5/M"
        assert "price is unknown" in excluded(plan)["c"]
        with pytest.raises(errors.NoEndpointAvailable, match="every one was excluded"):
            router.completion(model="m", messages=USER, provider={"max_price": {"prompt": 0.5}})
    assert all(p.requests == [] for p in sim.providers)


def test_max_price_per_request_fee() -> None:
    models = {"m": [ep("a", pricing={"prompt": "1e-6", "completion": "1e-6", "request": "0.01"}), ep("b")]}
    with routed(models) as (router, _, _):
        plan = router.plan("m", USER, provider={"max_price": {"request": 0.001}})
    assert order(plan) == ["b"]


def test_sort_and_model_suffixes() -> None:
    with routed(THREE) as (router, _, _):
        assert order(router.plan("m", USER, provider={"sort": "price"})) == ["a", "b", "c"]
        assert order(router.plan("m:floor", USER)) == ["a", "b", "c"]
        nitro = router.plan("m:nitro", USER)
        resp = router.completion(model="m:floor", messages=USER)
    assert all(c.reason.startswith("throughput:") for c in nitro.candidates)
    assert resp.route.model == "m" and resp.route.provider == "a"


def test_config_defaults_are_overridden_per_model_and_per_request() -> None:
    with routed(
        THREE,
        router={"provider": {"sort": "price", "ignore": ["a"]}},
        model_options={"m": {"provider": {"ignore": ["b"]}}},
    ) as (router, _, _):
        assert order(router.plan("m", USER)) == ["a", "c"]  # the model's ignore replaced the router's
        assert order(router.plan("m", USER, provider={"ignore": []})) == ["a", "b", "c"]
        assert order(router.plan("m", USER, provider={"sort": "ordered", "order": ["c"]})) == ["c", "a"]


def test_require_parameters_excludes_endpoints_lacking_a_feature_otherwise_last() -> None:
    tools = [{"type": "function", "function": {"name": "lookup"}}]
    models = {
        "m": [ep("a", 1.0, capabilities=["streaming"]), ep("b", 2.0, capabilities=["tools", "streaming"]), ep("c", 3.0)]
    }
    with routed(models, router={"provider": {"sort": "price"}}) as (router, sim, _):
        plan = router.plan("m", USER, tools=tools)
        assert order(plan) == ["b", "c", "a"]
        assert "does not declare tools" in plan.candidates[2].reason
        strict = router.plan("m", USER, tools=tools, provider={"require_parameters": True})
        assert order(strict) == ["b", "c"]
        assert "require_parameters" in excluded(strict)["a"]
        resp = router.completion(model="m", messages=USER, tools=tools)
    assert resp.route.provider == "b" and sim.provider("a").requests == []


@pytest.mark.parametrize(
    ("params", "feature"),
    [
        ({"response_format": {"type": "json_object"}}, "json_object"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}}, "json_schema"),
        ({"tool_choice": "none"}, "tool_choice"),
    ],
)
def test_each_declared_feature_is_required_when_used(params: dict, feature: str) -> None:
    models = {"m": [ep("a", 1.0, capabilities=[]), ep("b", 2.0, capabilities=[feature])]}
    with routed(models, router={"provider": {"sort": "price"}}) as (router, _, _):
        plan = router.plan("m", USER, provider={"require_parameters": True}, **params)
    assert order(plan) == ["b"]
    assert feature in excluded(plan)["a"]


def test_vision_streaming_and_max_output_tokens() -> None:
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}]
    models = {"m": [ep("a", 1.0, capabilities=["tools"], max_output_tokens=100), ep("b", 2.0)]}
    with routed(models, router={"provider": {"sort": "price", "require_parameters": True}}) as (router, _, _):
        assert "vision" in excluded(router.plan("m", image))["a"]
        assert "streaming" in excluded(router.plan("m", USER, stream=True))["a"]
        assert "max_output_tokens 100" in excluded(router.plan("m", USER, max_tokens=500))["a"]
        assert order(router.plan("m", USER, max_tokens=50)) == ["a", "b"]


def test_preferred_latency_and_throughput_deprioritise_only() -> None:
    from polyroute.testing import Reply

    with routed(THREE, router={"provider": {"sort": "price"}}) as (router, sim, _):
        sim.provider("a").set_default(Reply(latency=3.0))
        sim.provider("b").set_default(Reply(latency=0.1))
        sim.provider("c").set_default(Reply(latency=0.2))
        for name in ("a", "b", "c"):
            router.completion(model="m", messages=USER, provider={"only": [name]})
        plan = router.plan("m", USER, provider={"preferred_max_latency": 1.0})
        assert order(plan) == ["b", "c", "a"]
        assert "preferred_max_latency" in plan.candidates[2].reason
        assert order(router.plan("m", USER, provider={"preferred_max_latency": {"p90": 5}})) == ["a", "b", "c"]
        slow = router.plan("m", USER, provider={"preferred_min_throughput": 1000})
    # every endpoint is below 1000 tok/s: all deprioritised, none excluded
    assert order(slow) == ["a", "b", "c"] and slow.excluded == ()


def test_partition_none_sorts_across_models() -> None:
    models = {"big": [ep("a", 5.0), ep("b", 4.0)], "small": [ep("c", 1.0)]}
    with routed(models) as (router, _, _):
        by_model = router.plan("big", USER, models=["small"], provider={"sort": "price"})
        pooled = router.plan("big", USER, models=["small"], provider={"sort": {"by": "price", "partition": "none"}})
    assert order(by_model) == ["b", "a", "c"]
    assert order(pooled) == ["c", "b", "a"]


def test_plan_reports_every_exclusion_reason_and_json() -> None:
    with routed(THREE) as (router, _, _):
        plan = router.plan("m", USER, provider={"ignore": ["a"], "sort": "price"})
    text = plan.explain()
    assert "1. m via b/b-model (est. $0.000" in text and "): price: lowest cost first" in text
    assert "m via a/a-model: excluded: provider.ignore lists it" in text
    dumped = plan.model_dump()
    assert dumped["excluded"] == [{"model": "m", "endpoint": "a/a-model", "reason": "provider.ignore lists it"}]
    assert isinstance(plan, polyroute.Plan) and dumped["prompt_tokens"] > 0
