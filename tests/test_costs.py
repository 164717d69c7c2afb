"""Cost of a call: exact decimal lines from the provider's usage, on every response and stream."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from tests.conftest import USER, RouterFactory, endpoint

from polyroute import Pricing, Usage, errors
from polyroute.accounting._cost import call_cost, cost_breakdown, count_images
from polyroute.testing import Disconnect, ErrorReply, ProviderSimulator, Reply

D = Decimal
PRICES = Pricing(prompt=D("0.000003"), completion=D("0.000015"), cache_read=D("3e-7"), cache_write=D("0.00000375"))


def usage(**fields: Any) -> Usage:
    return Usage.from_dict(fields)


def test_cached_tokens_are_billed_once_at_the_cache_read_price() -> None:
    u = usage(prompt_tokens=1000, completion_tokens=100, prompt_tokens_details={"cached_tokens": 800})
    lines = cost_breakdown(u, PRICES)
    assert lines is not None
    assert lines.prompt == 200 * D("0.000003")
    assert lines.cached == 800 * D("3e-7")
    assert lines.completion == 100 * D("0.000015")
    assert lines.cost == D("0.00234")  # 0.0006 + 0.00024 + 0.0015: not 1000 prompt tokens + 800 cached


def test_cache_writes_at_their_price_and_not_again_as_prompt() -> None:
    u = usage(
        prompt_tokens=1500,
        completion_tokens=10,
        prompt_tokens_details={"cached_tokens": 500, "cache_write_tokens": 900},
    )
    lines = cost_breakdown(u, PRICES)
    assert lines is not None
    assert (lines.prompt, lines.cached, lines.cache_write) == (
        100 * D("0.000003"),
        500 * D("3e-7"),
        900 * D("0.00000375"),
    )


def test_reasoning_tokens_are_output_unless_priced_apart() -> None:
    u = usage(prompt_tokens=10, completion_tokens=1000, completion_tokens_details={"reasoning_tokens": 700})
    as_output = cost_breakdown(u, Pricing(prompt=D("1e-6"), completion=D("4e-6")))
    assert as_output is not None
    assert as_output.completion == 1000 * D("4e-6") and as_output.reasoning == 0
    apart = cost_breakdown(u, Pricing(prompt=D("1e-6"), completion=D("4e-6"), reasoning=D("2e-6")))
    assert apart is not None
    assert (apart.completion, apart.reasoning) == (300 * D("4e-6"), 700 * D("2e-6"))


def test_reasoning_is_never_more_than_the_completion_count() -> None:
    # OpenRouter has reported reasoning_tokens 11 with completion_tokens 10
    u = usage(prompt_tokens=43, completion_tokens=10, completion_tokens_details={"reasoning_tokens": 11})
    lines = cost_breakdown(u, Pricing(prompt=D("1e-6"), completion=D("4e-6"), reasoning=D("2e-6")))
    assert lines is not None
    assert (lines.completion, lines.reasoning) == (0, 10 * D("2e-6"))


def test_request_and_image_prices() -> None:
    p = Pricing(prompt=D("1e-6"), completion=D("2e-6"), request=D("0.005"), image=D("0.001"))
    lines = cost_breakdown(usage(prompt_tokens=10, completion_tokens=5), p, images=3)
    assert lines is not None
    assert (lines.request, lines.image) == (D("0.005"), D("0.003"))
    assert lines.cost == D("0.00002") + D("0.005") + D("0.003")


def test_exact_decimals_no_float_drift() -> None:
    p = Pricing(prompt=D("0.1"), completion=D("0.2"))
    total = sum((call_cost(usage(prompt_tokens=1, completion_tokens=1), p) or D(0) for _ in range(1000)), D(0))
    assert total == D("300.0")  # 0.1 + 0.2 summed a thousand times in floats is 300.00000000000563


def test_platform_fee_is_a_separate_line() -> None:
    lines = cost_breakdown(usage(prompt_tokens=1000, completion_tokens=0), PRICES, fee_percent=D("5.5"))
    assert lines is not None
    assert lines.cost == D("0.003")
    assert lines.fee == D("0.000165")
    assert lines.total == D("0.003165")


def test_provider_reported_cost_is_kept_and_disagreement_flagged() -> None:
    agree = cost_breakdown(usage(prompt_tokens=12, completion_tokens=5, cost=0.000222), Pricing(D("6e-6"), D("3e-5")))
    assert agree is not None
    assert agree.provider_reported == D("0.000222") and not agree.disagreement
    differ = cost_breakdown(usage(prompt_tokens=12, completion_tokens=5, cost=0.0003), Pricing(D("6e-6"), D("3e-5")))
    assert differ is not None
    assert differ.provider_reported == D("0.0003") and differ.disagreement
    assert differ.cost == D("0.000222")  # ours stays ours


def test_unknown_prices_or_usage_give_none_never_zero() -> None:
    assert cost_breakdown(usage(prompt_tokens=1, completion_tokens=1), Pricing()) is None
    assert cost_breakdown(None, PRICES) is None
    assert call_cost(None, PRICES) is None


def test_count_images() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}}]},
        {"role": "user", "content": "plain"},
    ]
    assert count_images(messages) == 1


# -- on responses ------------------------------------------------------------------------------


def test_cost_on_every_response_per_attempt_and_in_total(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router={"retry": {"max_retries": 0}})
    sim.provider("a").enqueue(ErrorReply(503))
    sim.provider("b").set_default(Reply(text="ok", usage={"prompt_tokens": 100, "completion_tokens": 50}))
    resp = router.completion(model="m", messages=USER)
    route = resp.route
    assert route is not None
    failed, served = route.attempts
    assert failed.cost == 0 and failed.cost_breakdown is None  # an error that reported no usage is not billed
    assert served.cost == D("0.0002")  # 100 * 1e-6 + 50 * 2e-6
    assert route.cost == D("0.0002") and route.fee is None
    dumped = resp.model_dump(mode="json")["route"]
    assert D(dumped["cost"]) == D("0.0002")
    assert D(dumped["attempts"][1]["cost_breakdown"]["prompt"]) == D("0.0001")


def test_platform_fee_on_the_route(sim: ProviderSimulator) -> None:
    import polyroute

    p = sim.add_provider("a")
    p.set_default(Reply(text="ok", usage={"prompt_tokens": 100, "completion_tokens": 50}))
    cfg = {
        "providers": {"a": {"base_url": p.base_url}},
        "models": {"m": {"endpoints": [endpoint("a")]}},
        "costs": {"platform_fee_percent": 10},
    }
    with polyroute.Router.from_config(cfg) as router:
        route = router.completion(model="m", messages=USER).route
    assert route is not None
    assert (route.cost, route.fee) == (D("0.0002"), D("0.00002"))


def test_stream_final_chunk_carries_the_cost(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [endpoint("a")]})
    sim.provider("a").set_default(Reply(text="a streamed reply", usage={"prompt_tokens": 10, "completion_tokens": 7}))
    chunks = list(router.completion(model="m", messages=USER, stream=True))
    assert chunks[-1].route is not None
    assert chunks[-1].route.cost == D("0.000024")  # 10e-6 + 14e-6
    assert all(c.route is None for c in chunks[:-1])


def test_interrupted_stream_attempt_is_billed_for_what_it_delivered(
    sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    router = make_router({"m": [endpoint("a")]})
    sim.provider("a").set_default(Disconnect(after_chunks=2))  # "Hello from a" in 8-character chunks
    with pytest.raises(errors.StreamInterrupted) as info:
        list(router.completion(model="m", messages=USER, stream=True))
    (attempt,) = info.value.attempts
    assert attempt.outcome == "error"
    # nothing reported before the connection dropped: the delivered tokens are estimated, and marked so
    assert attempt.usage_estimated and attempt.usage is not None
    assert attempt.usage.completion_tokens == 6  # "Hello from a. He": 16 bytes, at a conservative 3 a token
    assert attempt.cost is not None and attempt.cost > 0
    assert attempt.model_dump()["usage_estimated"] is True


def test_unknown_price_gives_no_cost(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = make_router({"m": [{"provider": "a", "model": "x"}]})
    route = router.completion(model="m", messages=USER).route
    assert route is not None
    assert route.cost is None and route.attempts[0].cost is None
