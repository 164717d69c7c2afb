"""What observability adds to polyroute's own CPU per call.

Each sample is a fresh interpreter pinned to one CPU that routes ``n`` non-streamed calls over
the in-memory transport of :mod:`benchmarks._own` (no socket, so only polyroute's work is
measured) with one set of observers:

- ``none``: no observers (the log records every router has, with quiet loggers);
- ``otel``: ``OpenTelemetryObserver`` on the OpenTelemetry SDK as an application sets it up in
  production: a ``TracerProvider`` (default sampler, parent-based always-on) with a
  ``BatchSpanProcessor`` whose exporter drops the spans (no network: the export thread's CPU is
  counted, the exporter's own work is not);
- ``otel_unsampled``: the same with a sampler that records no call (``ParentBased(TraceIdRatioBased(0))``):
  what a call left out by sampling costs (with a ratio ``p``, calls cost ``p`` times ``otel`` plus
  ``1 - p`` times this, on average);
- ``prometheus``: ``PrometheusObserver`` on prometheus-client's default registry (single process);
- ``both``: the two;
- ``otel_free`` and ``both_free``: the same as ``otel`` and ``both``, on a tracer provider whose
  spans record and cost nothing (no SDK): what polyroute's own work adds (its fields, its
  bookkeeping, its hooks, and prometheus-client's updates in ``both_free``), without the tracing
  SDK's. ``both`` minus ``both_free`` is what the SDK spends making and queuing the spans.

Two more samples measure the OpenTelemetry SDK alone, on the same provider set-up, per
iteration: ``sdk_bare`` starts and ends two spans with no attributes (a call span and a child);
``sdk_spans`` makes the two spans one call makes, with the very attributes polyroute gives them
(captured from a real call), in the cheapest way the API allows (every attribute when the span
starts). ``sdk_spans`` is the floor of any instrumentation that records what polyroute records.

Two ways to measure:

- CPU time (default): ``time.process_time()`` (every thread, the span export thread included)
  over ``n`` calls after a warm-up; variants interleaved round by round, medians over rounds.
  Meaningful on a quiet machine; under load every figure inflates (compare rows, not values).
- ``--callgrind``: instructions per call under valgrind's callgrind (the difference between a
  run of ``n`` and one of ``2n`` calls, so start-up cancels out); exact and repeatable whatever
  the load, blind to cache misses and to the time a lock waits.

``--compare SRC`` times the ``none`` variant with another checkout's ``src`` against this one,
interleaved: what observability costs a router that does not use it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._stats import spread

__all__ = ["SDK_VARIANTS", "VARIANTS", "measure_callgrind", "measure_observability"]

VARIANTS = ("none", "otel", "otel_unsampled", "prometheus", "both", "otel_free", "both_free")
SDK_VARIANTS = ("sdk_bare", "sdk_spans")


def _provider(*, sampled: bool = True) -> Any:
    """The SDK as an application sets it up: batched export (to an exporter that drops)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider() if sampled else TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.0)))
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    return provider


def _free_provider() -> Any:
    """A tracer provider whose spans record (``is_recording()``) and cost nothing: with it, what
    tracing adds is polyroute's own work alone (fields, bookkeeping, hooks), not a tracing SDK's."""
    from opentelemetry import trace

    class FreeSpan(trace.Span):
        __slots__ = ("_context",)

        def __init__(self, context: trace.SpanContext) -> None:
            self._context = context

        def get_span_context(self) -> trace.SpanContext:
            return self._context

        def end(self, end_time: int | None = None) -> None:
            pass

        def set_attributes(self, attributes: Any) -> None:
            pass

        def set_attribute(self, key: str, value: Any) -> None:
            pass

        def add_event(self, name: str, attributes: Any = None, timestamp: int | None = None) -> None:
            pass

        def update_name(self, name: str) -> None:
            pass

        def is_recording(self) -> bool:
            return True

        def set_status(self, status: Any, description: str | None = None) -> None:
            pass

        def record_exception(self, exception: BaseException, *args: Any, **kwargs: Any) -> None:
            pass

    context = trace.SpanContext(1, 1, is_remote=False, trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED))
    span = FreeSpan(context)

    class FreeTracer(trace.Tracer):
        def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
            return span

        def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

    class FreeProvider(trace.TracerProvider):
        def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
            return FreeTracer()

    return FreeProvider()


def _router(observers: list[Any]) -> Any:
    import polyroute
    from benchmarks._clients import MODEL, TARGET
    from benchmarks._own import _InMemoryTransport

    config = {
        "providers": {TARGET: {"base_url": "http://127.0.0.1:9/v1"}},
        "models": {
            MODEL: {
                "endpoints": [
                    {"provider": TARGET, "model": TARGET + "-model", "pricing": {"prompt": 5e-7, "completion": 1.5e-6}}
                ]
            }
        },
    }
    catalog = polyroute.Router.from_config(config).catalog
    kwargs = {"observers": observers} if observers else {}
    return polyroute.Router(catalog, async_transport=lambda provider: _InMemoryTransport(8), **kwargs)


def _call_spans() -> list[Any]:
    """The two spans one benchmark call makes (names, attributes), from a real call."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from benchmarks._clients import MAX_TOKENS, MESSAGES, MODEL
    from polyroute.observability import OpenTelemetryObserver

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    router = _router([OpenTelemetryObserver(tracer_provider=provider)])

    async def one() -> None:
        await router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
        await router.aclose()

    asyncio.run(one())
    return list(memory.get_finished_spans())  # the attempt's, then the call's


def _sdk_work(variant: str) -> Any:
    """One iteration of an SDK-only variant."""
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    tracer = _provider().get_tracer("polyroute")
    client = SpanKind.CLIENT
    if variant == "sdk_bare":

        def bare() -> None:
            call = tracer.start_span("call", kind=client)
            tracer.start_span("attempt", trace.set_span_in_context(call), client).end()
            call.end()

        return bare
    attempt, call = _call_spans()
    call_attrs, attempt_attrs = dict(call.attributes), dict(attempt.attributes)

    def spans() -> None:
        now = time.time_ns()
        span = tracer.start_span(call.name, kind=client, attributes=call_attrs)
        child = tracer.start_span(attempt.name, trace.set_span_in_context(span), client, attempt_attrs, start_time=now)
        child.end(end_time=now)
        span.end()

    return spans


def _child(variant: str, n: int) -> dict[str, Any]:
    """In the measuring interpreter: CPU µs per call (or per SDK iteration) of ``variant``."""
    if hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {0})
    import polyroute  # noqa: F401 - loaded before timing, as every variant does
    from benchmarks._clients import MAX_TOKENS, MESSAGES, MODEL

    warm = max(n // 10, 200)
    if variant in SDK_VARIANTS:
        work = _sdk_work(variant)
        for _ in range(warm):
            work()
        c0 = time.process_time()
        for _ in range(n):
            work()
        return {"cpu_us": (time.process_time() - c0) / n * 1e6}

    observers: list[Any] = []
    if variant in ("otel", "otel_unsampled", "both", "otel_free", "both_free"):
        from polyroute.observability import OpenTelemetryObserver

        sampled = variant != "otel_unsampled"
        provider = _free_provider() if variant.endswith("_free") else _provider(sampled=sampled)
        observers.append(OpenTelemetryObserver(tracer_provider=provider))
    if variant in ("prometheus", "both", "both_free"):
        from polyroute.observability import PrometheusObserver

        observers.append(PrometheusObserver())
    router = _router(observers)

    async def main() -> float:
        for _ in range(warm):
            await router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
        c0 = time.process_time()
        for _ in range(n):
            await router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
        cpu = (time.process_time() - c0) / n
        await router.aclose()
        return cpu

    return {"cpu_us": asyncio.run(main()) * 1e6}


def _env(cwd: Path, src: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([src, str(cwd)])
    return env


def _once(variant: str, n: int, cwd: Path, src: str | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks._observability", "--child", variant, "-n", str(n)],
        capture_output=True,
        text=True,
        timeout=900,
        env=_env(cwd, src),
        cwd=cwd,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("@@"):
            out: dict[str, Any] = json.loads(line[2:])
            return out
    raise RuntimeError(f"observability measurement failed: {proc.stderr[-2000:]}")


def measure_observability(rounds: int, n: int, cwd: Path) -> dict[str, Any]:
    """Per variant: CPU µs per call over rounds, and what it adds to "none"; the SDK alone."""
    names = (*VARIANTS, *SDK_VARIANTS)
    samples: dict[str, list[float]] = {v: [] for v in names}
    for _ in range(rounds):
        for v in names:
            samples[v].append(_once(v, n, cwd)["cpu_us"])
    sdk = {v: spread(samples[v]).to_json() for v in SDK_VARIANTS}
    out: dict[str, Any] = {"n": n, "rounds": rounds, "variants": {}, "sdk": sdk}
    for v in VARIANTS:
        added = [s - b for s, b in zip(samples[v], samples["none"], strict=True)]
        out["variants"][v] = {
            "cpu_us": spread(samples[v]).to_json(),
            "added_us": spread(added).to_json(),
            "sdk_floor_us": sdk["sdk_bare"] if v in ("otel", "both") else None,
            "sdk_spans_us": sdk["sdk_spans"] if v in ("otel", "both") else None,
            "samples": samples[v],
        }
    return out


def _instructions(variant: str, n: int, cwd: Path, valgrind: str) -> int:
    """Instructions a measuring interpreter executes in all (start-up included)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable]
        cmd += ["-m", "benchmarks._observability", "--child", variant, "-n", str(n)]
        env = _env(cwd, None)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=env, cwd=cwd, check=False)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"callgrind failed: {proc.stderr[-2000:]}")
        for line in out.read_text().splitlines():
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise RuntimeError("callgrind wrote no totals")


def measure_callgrind(n: int, cwd: Path) -> dict[str, Any]:
    """Per variant: instructions per call (a run of ``2n`` calls minus one of ``n``, over ``n``)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("--callgrind needs valgrind on PATH")
    per_call = {}
    for v in (*VARIANTS, *SDK_VARIANTS):
        per_call[v] = (_instructions(v, 2 * n, cwd, valgrind) - _instructions(v, n, cwd, valgrind)) / n
    base = per_call["none"]
    return {
        "n": n,
        "instructions_per_call": {v: round(x) for v, x in per_call.items()},
        "added_instructions": {v: round(per_call[v] - base) for v in VARIANTS},
    }


def compare(src: str, rounds: int, n: int, cwd: Path) -> dict[str, Any]:
    """The "none" variant with ``src`` against this checkout, interleaved."""
    base: list[float] = []
    here: list[float] = []
    for _ in range(rounds):
        base.append(_once("none", n, cwd, src)["cpu_us"])
        here.append(_once("none", n, cwd, str(cwd / "src"))["cpu_us"])
    return {"baseline": spread(base).to_json(), "this": spread(here).to_json(), "base": base, "here": here}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m benchmarks._observability")
    ap.add_argument("--compare", metavar="SRC", help="another checkout's src directory (the baseline)")
    ap.add_argument("--callgrind", action="store_true", help="instructions per call under valgrind")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("-n", type=int, default=None, help="calls per sample (3000; 500 with --callgrind)")
    ap.add_argument("--child", metavar="VARIANT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    if args.child:
        print("@@" + json.dumps(_child(args.child, args.n or 3000)))
        sys.exit(0)
    if args.compare:
        result = compare(args.compare, args.rounds, args.n or 3000, root)
    elif args.callgrind:
        result = measure_callgrind(args.n or 500, root)
    else:
        result = measure_observability(args.rounds, args.n or 3000, root)
    print(json.dumps(result, indent=1))
