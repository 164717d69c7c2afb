"""What observability adds to polyroute's own CPU per call.

Each sample is a fresh interpreter pinned to the client CPU that routes ``n`` non-streamed calls
over the in-memory transport of :mod:`benchmarks._own` (no socket, so only polyroute's work is
timed) with one set of observers: none, OpenTelemetry (the SDK, spans batched to an exporter that
drops them), Prometheus (prometheus-client's default registry), or both. Variants are interleaved
round by round.

``python -m benchmarks._observability --compare SRC`` times the "none" variant with another
checkout's ``src`` (e.g. the main branch before observability) against this one, interleaved:
the cost of observability for a router that does not use it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks._stats import spread

__all__ = ["VARIANTS", "measure_observability"]

VARIANTS = ("none", "otel", "prometheus", "both")

_SNIPPET = """
import asyncio, json, os, sys, time
if hasattr(os, "sched_setaffinity"):
    try:
        os.sched_setaffinity(0, {{0}})
    except OSError:
        pass
import polyroute
from benchmarks._own import _InMemoryTransport
from benchmarks._clients import MAX_TOKENS, MESSAGES, MODEL, TARGET

variant, n = {variant!r}, {n}
observers = []
if variant in ("otel", "both"):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    from polyroute.observability import OpenTelemetryObserver
    observers.append(OpenTelemetryObserver(tracer_provider=provider))
if variant in ("prometheus", "both"):
    from polyroute.observability import PrometheusObserver
    observers.append(PrometheusObserver())
config = {{
    "providers": {{TARGET: {{"base_url": "http://127.0.0.1:9/v1"}}}},
    "models": {{MODEL: {{"endpoints": [
        {{"provider": TARGET, "model": TARGET + "-model", "pricing": {{"prompt": 5e-7, "completion": 1.5e-6}}}}
    ]}}}},
}}
catalog = polyroute.Router.from_config(config).catalog
kwargs = {{"observers": observers}} if observers else {{}}
router = polyroute.Router(catalog, async_transport=lambda provider: _InMemoryTransport(8), **kwargs)

async def main():
    for _ in range(max(n // 10, 200)):
        await router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
    c0 = time.process_time()
    for _ in range(n):
        await router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
    cpu = (time.process_time() - c0) / n
    await router.aclose()
    return cpu

cpu = asyncio.run(main())
floor = None
if variant in ("otel", "both"):  # the SDK's own cost: two spans, no attributes
    tracer = provider.get_tracer("floor")
    for _ in range(200):
        tracer.start_span("x").end()
    c0 = time.process_time()
    for _ in range(n):
        tracer.start_span("call").end()
        tracer.start_span("attempt").end()
    floor = (time.process_time() - c0) / n * 1e6
print("@@" + json.dumps({{"cpu_us": cpu * 1e6, "sdk_floor_us": floor}}))
"""


def _once(variant: str, n: int, cwd: Path, src: str | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([src, str(cwd)])
    proc = subprocess.run(
        [sys.executable, "-c", _SNIPPET.format(variant=variant, n=n)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=cwd,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("@@"):
            out: dict[str, Any] = json.loads(line[2:])
            return out
    raise RuntimeError(f"observability measurement failed: {proc.stderr[-2000:]}")


def measure_observability(rounds: int, n: int, cwd: Path) -> dict[str, Any]:
    """Per variant: CPU µs per call over rounds, and what it adds to "none"."""
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    floors: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(rounds):
        for v in VARIANTS:
            got = _once(v, n, cwd)
            samples[v].append(got["cpu_us"])
            if got.get("sdk_floor_us") is not None:
                floors[v].append(got["sdk_floor_us"])
    out: dict[str, Any] = {"n": n, "rounds": rounds, "variants": {}}
    for v in VARIANTS:
        added = [s - b for s, b in zip(samples[v], samples["none"], strict=True)]
        out["variants"][v] = {
            "cpu_us": spread(samples[v]).to_json(),
            "added_us": spread(added).to_json(),
            "sdk_floor_us": spread(floors[v]).to_json() if floors[v] else None,
            "samples": samples[v],
        }
    return out


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
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("-n", type=int, default=3000)
    args = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    result = (
        compare(args.compare, args.rounds, args.n, root)
        if args.compare
        else measure_observability(args.rounds, args.n, root)
    )
    print(json.dumps(result, indent=1))
