"""Live health statistics: router.stats(), rolling windows, what counts against a provider."""

from __future__ import annotations

import json

import pytest
from tests.routing_support import USER, ep, routed

from polyroute import errors
from polyroute.testing import Disconnect, ErrorReply, Reply

SETTINGS = {"provider": {"sort": "ordered"}, "breaker": {"failure_threshold": 100}}


def test_every_endpoint_is_reported_before_any_traffic() -> None:
    with routed({"m": [ep("a"), ep("b")], "n": [ep("a")]}) as (router, _, _):
        stats = router.stats()
    assert sorted(stats) == ["a/a-model", "b/b-model"]
    a = stats["a/a-model"]
    assert (a.provider, a.model, a.in_flight, a.breaker) == ("a", "a-model", 0, "closed")
    assert sorted(a.windows) == ["30m", "5m"]
    w = a.windows["5m"]
    assert (w.attempts, w.success_ratio, w.ttft, w.latency, w.throughput) == (0, None, None, None, None)
    assert a.last_success_s is None and a.last_failure_s is None


def test_429_and_400_do_not_count_against_a_provider() -> None:
    with routed({"m": [ep("a"), ep("b")]}, router=SETTINGS) as (router, sim, _):
        sim.provider("a").enqueue(ErrorReply(429), ErrorReply(503), Reply(), Reply(), ErrorReply(502))
        for _ in range(5):
            router.completion(model="m", messages=USER)
        sim.provider("a").enqueue(ErrorReply(400))
        with pytest.raises(errors.BadRequest):
            router.completion(model="m", messages=USER)
        w = router.stats()["a/a-model"].windows["5m"]
    assert (w.successes, w.failures, w.not_counted, w.cancelled, w.attempts) == (2, 2, 2, 0, 6)
    assert w.success_ratio == 0.5


def test_latency_and_ttft_percentiles_from_the_injected_clock() -> None:
    with routed({"m": [ep("a")]}) as (router, sim, clock):
        sim.provider("a").enqueue(*[Reply(latency=0.1)] * 18, Reply(latency=0.5), Reply(latency=2.0))
        for _ in range(20):
            router.completion(model="m", messages=USER)
        stats = router.stats()["a/a-model"]
    w = stats.windows["5m"]
    assert w.latency is not None and w.ttft is not None
    assert w.latency.samples == 20
    assert w.latency.p50 == pytest.approx(0.1, rel=0.02)
    assert w.latency.p95 == pytest.approx(0.5, rel=0.02)
    assert w.latency.p99 == 2.0  # the largest sample, exactly
    # not streamed: the first token reached the caller with the whole response
    assert w.ttft.p50 == pytest.approx(w.latency.p50)
    assert stats.last_success_s == 0.0


def test_streams_record_time_to_first_token_and_throughput() -> None:
    with routed({"m": [ep("a")]}) as (router, sim, _):
        sim.provider("a").set_default(Reply(text="word " * 40, latency=0.25))
        with router.completion(model="m", messages=USER, stream=True) as stream:
            list(stream)
        w = router.stats()["a/a-model"].windows["5m"]
    assert w.ttft is not None and w.ttft.p50 >= 0.25
    # the simulator counts 50 completion tokens; they all came at once, so over the whole call
    assert w.throughput is not None and w.throughput.p50 == pytest.approx(50 / w.latency.p50, rel=0.06)


def test_windows_roll_over_5_and_30_minutes() -> None:
    with routed({"m": [ep("a")]}) as (router, sim, clock):
        sim.provider("a").enqueue(ErrorReply(503))
        with pytest.raises(errors.NoEndpointAvailable):
            router.completion(model="m", messages=USER)
        router.completion(model="m", messages=USER)
        clock.advance(6 * 60)
        router.completion(model="m", messages=USER)
        stats = router.stats()["a/a-model"]
        assert stats.windows["5m"].successes == 1 and stats.windows["5m"].failures == 0
        assert stats.windows["30m"].successes == 2 and stats.windows["30m"].failures == 1
        assert stats.last_failure_s == pytest.approx(360)
        clock.advance(31 * 60)
        stats = router.stats()["a/a-model"]
    assert stats.windows["5m"].attempts == 0 and stats.windows["30m"].attempts == 0
    assert stats.windows["30m"].latency is None


def test_in_flight_returns_to_zero_when_a_stream_is_abandoned() -> None:
    with routed({"m": [ep("a")]}) as (router, sim, _):
        sim.provider("a").set_default(Reply(text="x" * 400, chunk_size=4))
        stream = router.completion(model="m", messages=USER, stream=True)
        next(iter(stream))
        assert router.stats()["a/a-model"].in_flight == 1
        stream.close()
        stats = router.stats()["a/a-model"]
    assert stats.in_flight == 0
    assert stats.windows["5m"].cancelled == 1


def test_a_broken_stream_counts_as_a_failure() -> None:
    with routed({"m": [ep("a"), ep("b")]}, router=SETTINGS) as (router, sim, _):
        sim.provider("a").enqueue(Disconnect(after_chunks=0))
        with router.completion(model="m", messages=USER, stream=True) as stream:
            list(stream)
        stats = router.stats()
    assert stats["a/a-model"].windows["5m"].failures == 1
    assert stats["b/b-model"].windows["5m"].successes == 1


def test_stats_dump_to_json() -> None:
    with routed({"m": [ep("a")]}) as (router, _, _):
        router.completion(model="m", messages=USER)
        data = {k: v.model_dump() for k, v in router.stats().items()}
    text = json.dumps(data)
    assert json.loads(text)["a/a-model"]["windows"]["5m"]["successes"] == 1
