"""OpenTelemetry tracing with the real SDK: a span per call, a child span per attempt.

Spans go to the SDK's in-memory exporter; the router runs on the simulator with a fake clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from tests.routing_support import USER, config, ep, routed

import polyroute
from polyroute import errors
from polyroute.testing import Disconnect, ErrorReply, FakeClock, Hang, ProviderSimulator, Reply

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import StatusCode  # noqa: E402

from polyroute.observability import OpenTelemetryObserver  # noqa: E402

ORDERED = {"provider": {"sort": "ordered"}}


class Traces:
    """A tracer provider exporting to memory, and the spans it finished."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.app = self.provider.get_tracer("app")

    def observer(self, **kwargs: Any) -> OpenTelemetryObserver:
        return OpenTelemetryObserver(tracer_provider=self.provider, **kwargs)

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> ReadableSpan:
        (span,) = [s for s in self.spans if s.name == name]
        return span

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        kids = [s for s in self.spans if s.parent is not None and s.parent.span_id == parent.context.span_id]
        return sorted(kids, key=lambda s: s.attributes["polyroute.attempt.number"])  # type: ignore[index,return-value]


@pytest.fixture
def traces() -> Iterator[Traces]:
    t = Traces()
    yield t
    t.provider.shutdown()


def _call_span(traces: Traces) -> ReadableSpan:
    (span,) = [s for s in traces.spans if "polyroute.request_id" in (s.attributes or {})]
    return span


def test_a_call_that_fails_over_is_a_span_with_one_child_per_attempt(traces: Traces) -> None:
    with routed({"m": [ep("a"), ep("b")]}, router=ORDERED, observers=[traces.observer()]) as (router, sim, _):
        sim.provider("a").set_default(ErrorReply(503))
        with traces.app.start_as_current_span("user request") as parent:
            resp = router.completion(model="m", messages=USER, max_tokens=50, temperature=0.5)
    route = resp.route
    call = traces.named("chat m")
    assert call.parent is not None and call.parent.span_id == parent.get_span_context().span_id
    assert call.status.status_code is StatusCode.UNSET
    attrs = dict(call.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "m"
    assert attrs["gen_ai.request.max_tokens"] == 50 and attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["gen_ai.provider.name"] == "b"
    assert attrs["gen_ai.response.model"] == "b-model"
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.usage.input_tokens"] == route.usage.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == route.usage.completion_tokens
    assert attrs["polyroute.request_id"] == route.request_id
    assert attrs["polyroute.endpoint"] == "b/b-model"
    assert (attrs["polyroute.attempts"], attrs["polyroute.fallbacks"]) == (2, 1)
    assert attrs["polyroute.cost_usd"] == float(route.cost)
    assert attrs["polyroute.outcome"] == "success"
    assert "gen_ai.input.messages" not in attrs and "gen_ai.output.messages" not in attrs  # only when asked for

    failed, served = traces.children(call)
    assert failed.name == "chat a-model" and served.name == "chat b-model"
    assert failed.status.status_code is StatusCode.ERROR
    fa = dict(failed.attributes or {})
    assert fa["gen_ai.provider.name"] == "a"
    assert fa["gen_ai.request.model"] == "a-model"
    assert fa["error.type"] == "ServerError"
    assert fa["http.response.status_code"] == 503
    assert fa["polyroute.attempt.number"] == 1
    assert fa["polyroute.attempt.outcome"] == "error"
    assert fa["polyroute.route.reason"] == router.plan("m", USER).candidates[0].reason
    assert fa["polyroute.breaker.state"] == "closed"
    sa = dict(served.attributes or {})
    assert served.status.status_code is StatusCode.UNSET
    assert sa["polyroute.attempt.number"] == 2
    assert sa["polyroute.attempt.outcome"] == "success"
    assert sa["gen_ai.usage.input_tokens"] == route.attempts[1].usage.prompt_tokens
    assert sa["polyroute.cost_usd"] == float(route.attempts[1].cost)
    assert "error.type" not in sa


def test_a_retry_says_how_long_it_waited_and_a_breaker_that_opened_says_so(traces: Traces) -> None:
    settings = {**ORDERED, "retry": {"max_retries": 1}, "breaker": {"failure_threshold": 2}}
    with routed({"m": [ep("a"), ep("b")]}, router=settings, observers=[traces.observer()]) as (router, sim, clock):
        sim.provider("a").set_default(ErrorReply(503))
        router.completion(model="m", messages=USER)
    call = traces.named("chat m")
    first, retry, served = traces.children(call)
    assert clock.sleeps and retry.attributes["polyroute.retry.delay_s"] == pytest.approx(clock.sleeps[0])  # type: ignore[index]
    assert retry.attributes["polyroute.attempt.retry"] == 1  # type: ignore[index]
    assert "polyroute.retry.delay_s" not in (first.attributes or {})
    assert first.attributes["polyroute.breaker.state"] == "closed"  # type: ignore[index]
    assert retry.attributes["polyroute.breaker.state"] == "open"  # type: ignore[index]  # the second failure opened it
    assert served.attributes["gen_ai.provider.name"] == "b"  # type: ignore[index]


def test_async_calls_nest_under_the_callers_span(traces: Traces) -> None:
    async def run() -> None:
        with routed({"m": [ep("a")]}, observers=[traces.observer()]) as (router, _, _):
            with traces.app.start_as_current_span("handler") as parent:
                await router.acompletion(model="m", messages=USER)
            await router.aclose()
        call = traces.named("chat m")
        assert call.parent is not None and call.parent.span_id == parent.get_span_context().span_id
        assert [s.name for s in traces.children(call)] == ["chat a-model"]

    asyncio.run(run())


def test_a_stream_read_later_keeps_its_parent_and_ends_at_the_last_chunk(traces: Traces) -> None:
    with routed({"m": [ep("a")]}, observers=[traces.observer()]) as (router, sim, _):
        sim.provider("a").set_default(Reply(text="streamed text", chunk_size=3, ttft=0.25))
        with traces.app.start_as_current_span("handler") as parent:
            stream = router.completion(model="m", messages=USER, stream=True)
        assert [s.name for s in traces.spans] == ["handler"]  # the call's span is still open
        chunks = list(stream)
    assert [s.name for s in traces.spans] == ["handler", "chat a-model", "chat m"]
    call = traces.named("chat m")
    assert call.parent is not None and call.parent.span_id == parent.get_span_context().span_id
    assert call.attributes["polyroute.stream"] is True  # type: ignore[index]
    assert call.attributes["gen_ai.usage.output_tokens"] == stream.route.usage.completion_tokens  # type: ignore[index,union-attr]
    (attempt,) = traces.children(call)
    assert attempt.attributes["polyroute.ttft_s"] == stream.route.attempts[0].ttft_s  # type: ignore[index,union-attr]
    assert attempt.attributes["gen_ai.response.finish_reasons"] == ("stop",)  # type: ignore[index]
    assert chunks[-1].route is stream.route


def test_a_broken_stream_says_so(traces: Traces) -> None:
    with routed({"m": [ep("a"), ep("b")]}, router=ORDERED, observers=[traces.observer()]) as (router, sim, _):
        sim.provider("a").set_default(Disconnect(after_chunks=2))
        stream = router.completion(model="m", messages=USER, stream=True)
        with pytest.raises(errors.StreamInterrupted):
            list(stream)
    call = traces.named("chat m")
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes["error.type"] == "StreamInterrupted"  # type: ignore[index]
    assert call.attributes["polyroute.outcome"] == "error"  # type: ignore[index]
    (attempt,) = traces.children(call)
    assert attempt.status.status_code is StatusCode.ERROR
    assert attempt.attributes["polyroute.attempt.outcome"] == "error"  # type: ignore[index]
    assert "polyroute.ttft_s" in (attempt.attributes or {})  # it had started delivering


def test_a_stream_closed_early_says_it_was_cancelled(traces: Traces) -> None:
    with routed({"m": [ep("a")]}, observers=[traces.observer()]) as (router, sim, _):
        sim.provider("a").set_default(Reply(text="a long answer that nobody reads", chunk_size=2))
        with router.completion(model="m", messages=USER, stream=True) as stream:
            next(stream)
            next(stream)
    call = traces.named("chat m")
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes["error.type"] == "Cancelled"  # type: ignore[index]
    assert call.attributes["polyroute.outcome"] == "cancelled"  # type: ignore[index]
    (attempt,) = traces.children(call)
    assert attempt.attributes["polyroute.attempt.outcome"] == "cancelled"  # type: ignore[index]


def test_a_hedged_call_has_two_overlapping_attempt_spans(traces: Traces) -> None:
    async def run() -> None:
        with routed({"m": [ep("a"), ep("b")]}, router=ORDERED, observers=[traces.observer()]) as (router, sim, _):
            sim.provider("a").set_default(Hang())
            sim.provider("b").set_default(Reply(text="from b"))
            resp = await router.acompletion(model="m", messages=USER, hedge=0.5)
            assert resp.route.provider == "b"
            await router.aclose()

    asyncio.run(run())
    call = traces.named("chat m")
    slow, fast = traces.children(call)
    assert slow.attributes["gen_ai.provider.name"] == "a"  # type: ignore[index]
    assert slow.attributes["polyroute.attempt.outcome"] == "cancelled"  # type: ignore[index]
    assert slow.status.status_code is StatusCode.UNSET  # losing a race is not an error
    assert fast.attributes["polyroute.attempt.outcome"] == "success"  # type: ignore[index]
    assert fast.start_time < slow.end_time  # type: ignore[operator]  # they ran at the same time
    assert call.attributes["gen_ai.provider.name"] == "b"  # type: ignore[index]


def test_a_budget_refusal_is_an_error_span_with_a_skipped_attempt(traces: Traces) -> None:
    clock = FakeClock()
    with ProviderSimulator(clock=clock) as sim:
        cfg = config(sim, {"m": [ep("a", 1000.0)]})
        cfg["budgets"] = [{"scope": "user", "match": "*", "limit_usd": "0.001", "period": "day"}]
        with polyroute.Router.from_config(cfg, clock=clock, observers=[traces.observer()]) as router:
            with pytest.raises(errors.BudgetExceeded):
                router.completion(model="m", messages=USER, user="alice", max_tokens=100)
        assert sim.provider("a").requests == []
    call = traces.named("chat m")
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes["error.type"] == "BudgetExceeded"  # type: ignore[index]
    (skipped,) = traces.children(call)
    assert skipped.attributes["polyroute.attempt.outcome"] == "skipped"  # type: ignore[index]
    assert skipped.attributes["polyroute.skip.reason"] == "BudgetExceeded"  # type: ignore[index]
    assert skipped.status.status_code is StatusCode.UNSET
    assert "alice" not in repr([dict(s.attributes or {}) for s in traces.spans])  # no user ids


def test_prompts_and_replies_are_recorded_only_when_asked_for(traces: Traces) -> None:
    import json

    with routed({"m": [ep("a")]}, observers=[traces.observer(capture_content=True)]) as (router, sim, _):
        sim.provider("a").set_default(Reply(text="general kenobi", chunk_size=4))
        router.completion(model="m", messages=USER)
        list(router.completion(model="m", messages=USER, stream=True))
    whole, streamed = [s for s in traces.spans if s.name == "chat m"]
    for call in (whole, streamed):
        attrs = call.attributes or {}
        assert json.loads(attrs["gen_ai.input.messages"]) == [  # type: ignore[arg-type]
            {"role": "user", "parts": [{"type": "text", "content": "hello there"}]}
        ]
        assert json.loads(attrs["gen_ai.output.messages"]) == [  # type: ignore[arg-type]
            {"role": "assistant", "parts": [{"type": "text", "content": "general kenobi"}], "finish_reason": "stop"}
        ]


def test_nothing_is_done_without_a_recording_tracer() -> None:
    from opentelemetry.trace import NoOpTracerProvider

    observer = OpenTelemetryObserver(tracer_provider=NoOpTracerProvider())
    with routed({"m": [ep("a")]}, observers=[observer]) as (router, _, _):
        assert router.completion(model="m", messages=USER).route.provider == "a"


def test_a_langchain_chain_contains_polyroutes_spans(traces: Traces) -> None:
    pytest.importorskip("langchain_polyroute")
    from langchain_core.runnables import RunnableLambda
    from langchain_polyroute import ChatPolyroute

    with routed({"m": [ep("a"), ep("b")]}, router=ORDERED, observers=[traces.observer()]) as (router, sim, _):
        sim.provider("a").set_default(ErrorReply(500))
        llm = ChatPolyroute(model="m", router=router)
        chain = RunnableLambda(lambda q: [("user", q)]) | llm | RunnableLambda(lambda m: m.content)
        with traces.app.start_as_current_span("chain") as parent:
            answer = chain.invoke("hello")
    assert answer == "Hello from b"
    call = traces.named("chat m")
    assert call.parent is not None and call.parent.span_id == parent.get_span_context().span_id
    assert [s.attributes["polyroute.attempt.outcome"] for s in traces.children(call)] == ["error", "success"]  # type: ignore[index]


def test_a_llama_index_query_contains_polyroutes_spans(traces: Traces) -> None:
    pytest.importorskip("llama_index.llms.polyroute")
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.llms.polyroute import Polyroute

    docs = [Document(text="The Eiffel Tower was completed in 1889."), Document(text="Lyon has good food.")]
    index = VectorStoreIndex.from_documents(docs, embed_model=MockEmbedding(embed_dim=8))

    async def run() -> None:
        with routed({"m": [ep("a"), ep("b")]}, router=ORDERED, observers=[traces.observer()]) as (router, sim, _):
            sim.provider("a").set_default(ErrorReply(503))
            engine = index.as_query_engine(llm=Polyroute(model="m", router=router), similarity_top_k=2)
            with traces.app.start_as_current_span("query") as parent:
                assert str(engine.query("When was the tower completed?")) == "Hello from b"
            with traces.app.start_as_current_span("async query") as aparent:
                await engine.aquery("When was the tower completed?")
            await router.aclose()
        calls = [s for s in traces.spans if s.name == "chat m"]
        assert len(calls) == 2
        # each call span sits inside its query's trace (under LlamaIndex's own work, if it traces)
        assert calls[0].context.trace_id == parent.get_span_context().trace_id
        assert calls[1].context.trace_id == aparent.get_span_context().trace_id
        for call in calls:
            outcomes = [s.attributes["polyroute.attempt.outcome"] for s in traces.children(call)]  # type: ignore[index]
            assert outcomes == ["error", "success"]

    asyncio.run(run())


def test_an_async_stream_read_in_another_task_keeps_its_parent(traces: Traces) -> None:
    async def run() -> None:
        with routed({"m": [ep("a")]}, observers=[traces.observer()]) as (router, sim, _):
            sim.provider("a").set_default(Reply(text="streamed text", chunk_size=3))
            with traces.app.start_as_current_span("handler") as parent:
                stream = await router.acompletion(model="m", messages=USER, stream=True)

            async def read() -> str:
                return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

            assert await asyncio.create_task(read()) == "streamed text"
            await router.aclose()
        call = traces.named("chat m")
        assert call.parent is not None and call.parent.span_id == parent.get_span_context().span_id
        assert [s.name for s in traces.children(call)] == ["chat a-model"]

    asyncio.run(run())


def test_an_observer_that_fails_never_breaks_a_call(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def on_call_start(self, *args: Any) -> None:
            raise RuntimeError("boom")

        def on_attempt(self, *args: Any) -> None:
            raise RuntimeError("boom")

        def on_call(self, *args: Any) -> None:
            raise RuntimeError("boom")

    with routed({"m": [ep("a")]}, observers=[Broken()]) as (router, _, _):
        assert router.completion(model="m", messages=USER).route.cost == Decimal("5e-6")
    assert sum("observer" in r.message for r in caplog.records) == 3


def test_the_configuration_can_turn_tracing_and_metrics_on(traces: Traces) -> None:
    from opentelemetry import trace
    from prometheus_client.parser import text_string_to_metric_families

    from polyroute.observability.prometheus import exposition

    trace.set_tracer_provider(traces.provider)  # the global provider (the only test that sets it)
    clock = FakeClock()
    with ProviderSimulator(clock=clock) as sim:
        models = {"configured": [ep("a")]}
        cfg = config(sim, models, router={"observability": {"otel": True, "prometheus": True}})
        with polyroute.Router.from_config(cfg, clock=clock) as router:
            router.completion(model="configured", messages=USER)
            changed = config(sim, models, router={"observability": {"otel": False, "prometheus": True}})
            with pytest.raises(errors.ConfigError, match="observability"):
                router.reload(changed)
        with pytest.raises(errors.ConfigError, match="observability"):
            polyroute.Router.from_config({**cfg, "router": {"observability": {"otle": True}}})
    assert [s.name for s in traces.spans] == ["chat a-model", "chat configured"]
    body, _ = exposition()  # prometheus-client's default REGISTRY
    calls = [
        s.value
        for f in text_string_to_metric_families(body.decode())
        for s in f.samples
        if s.name == "polyroute_calls_total" and s.labels["model"] == "configured"
    ]
    assert calls == [1.0]


def test_an_embeddings_call_is_an_embeddings_span(traces: Traces) -> None:
    clock = FakeClock()
    with ProviderSimulator(clock=clock) as sim:
        p = sim.add_provider("a", embedding_dimensions=8)
        cfg = {
            "providers": {"a": {"base_url": p.base_url}},
            "models": {
                "emb": {"kind": "embedding", "endpoints": [{"provider": "a", "model": "embed-1", "dimensions": 8}]}
            },
        }
        observer = traces.observer(capture_content=True)
        with polyroute.Router.from_config(cfg, clock=clock, observers=[observer]) as router:
            resp = router.embedding("emb", ["hello world"])
    call = traces.named("embeddings emb")
    assert call.attributes["gen_ai.operation.name"] == "embeddings"  # type: ignore[index]
    assert call.attributes["gen_ai.usage.input_tokens"] == resp.route.usage.prompt_tokens  # type: ignore[index,union-attr]
    assert "gen_ai.output.messages" not in (call.attributes or {})
    (attempt,) = traces.children(call)
    assert attempt.name == "embeddings embed-1"
