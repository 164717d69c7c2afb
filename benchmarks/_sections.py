"""The benchmark sections. Rounds are interleaved across client kinds (round 1: every kind, round
2: every kind...), so slow drift on a shared machine hits every kind alike; "added" figures
subtract the raw client's figure *from the same round*."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks._control import ServerHandle
from benchmarks._planning import growth_check
from benchmarks._scenarios import (
    PRICES,
    RAISED_ALPHA,
    STRATEGIES,
    default_cost_ratio,
    default_first_pick,
    scenarios,
    summarize,
)
from benchmarks._settings import Settings
from benchmarks._stats import spread
from benchmarks._weather import Weather
from benchmarks._workers import DISPLAY, WorkerError, WorkerProc

__all__ = ["Context", "latency", "memory", "planning", "routing_quality", "streaming", "throughput"]


@dataclass
class Context:
    """What every section needs."""

    settings: Settings
    server: ServerHandle
    workers: dict[str, WorkerProc]
    deadline: float
    say: Callable[[str], None]
    failures: dict[str, str] = field(default_factory=dict)

    def time_left(self) -> float:
        return self.deadline - time.monotonic()


def _rounds(ctx: Context, run_round: Callable[[int], dict[str, Any]], rounds: int, name: str) -> list[dict[str, Any]]:
    out = []
    for r in range(rounds):
        if r and ctx.time_left() < 0:
            ctx.say(f"{name}: time budget spent, stopping after {r} rounds")
            break
        t0 = time.monotonic()
        out.append(run_round(r))
        ctx.say(f"{name}: round {r + 1}/{rounds} in {time.monotonic() - t0:.1f}s")
    return out


def _each(
    ctx: Context, section: str, cmd: Callable[[str], dict[str, Any]], timeout: float, out: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run a command on every worker; a failing non-baseline worker is recorded and left out."""
    out = {} if out is None else out
    for kind, w in ctx.workers.items():
        if f"{section}:{kind}" in ctx.failures:
            continue
        try:
            result = w.call(cmd(kind), timeout=timeout)
        except WorkerError as exc:
            if kind == "raw":
                raise
            ctx.failures[f"{section}:{kind}"] = str(exc)
            ctx.say(f"{section}: {kind} FAILED: {exc}")
            continue
        if kind in out:
            out[kind].update(result)
        else:
            out[kind] = result
    return out


def _kinds(rounds: list[dict[str, Any]]) -> list[str]:
    """Kinds with a result in every round."""
    return [k for k in rounds[0] if all(k in r for r in rounds)]


def _added(rounds: list[dict[str, Any]], kind: str, key: str) -> list[float]:
    return [r[kind][key] - r["raw"][key] for r in rounds if kind in r and "raw" in r]


def latency(ctx: Context) -> dict[str, Any]:
    """Item 1: added latency per non-streamed request at concurrency 1."""
    s = ctx.settings
    ctx.server.reset()

    def one(_: int) -> dict[str, Any]:
        out = {
            kind: w.call(
                {
                    "op": "latency",
                    "n": s.latency_n[kind],
                    "warmup": max(s.latency_n[kind] // 10, 10),
                    "max_s": s.section_cap_s,
                },
                timeout=s.section_cap_s + 120,
            )
            for kind, w in ctx.workers.items()
        }
        # polyroute alone: the same calls over an in-memory transport (no socket)
        own = {"op": "own", "n": s.latency_n["polyroute"], "streams": s.streams["polyroute"], "chunks": s.stream_chunks}
        out["own"] = ctx.workers["polyroute"].call(own, timeout=s.section_cap_s + 120)
        return out

    rounds = _rounds(ctx, one, s.rounds, "latency")
    summary = {}
    for kind in ctx.workers:
        summary[DISPLAY[kind]] = {
            "p50_us": spread([r[kind]["p50_us"] for r in rounds]).to_json(),
            "p99_us": spread([r[kind]["p99_us"] for r in rounds]).to_json(),
            "added_p50_us": spread(_added(rounds, kind, "p50_us")).to_json(),
            "added_p99_us": spread(_added(rounds, kind, "p99_us")).to_json(),
            "cpu_us": spread([r[kind]["cpu_us"] for r in rounds]).to_json(),
            "added_cpu_us": spread(_added(rounds, kind, "cpu_us")).to_json(),
            "n": rounds[0][kind]["n"],
        }
    own = {
        "cpu_us": spread([r["own"]["cpu_us"] for r in rounds]).to_json(),
        "cpu_us_per_chunk": spread([r["own"]["cpu_us_per_chunk"] for r in rounds]).to_json(),
    }
    return {"rounds": rounds, "summary": summary, "own": own}


def throughput(ctx: Context) -> dict[str, Any]:
    """Item 2: requests per second at 50 concurrent requests, client on one core."""
    s = ctx.settings
    ctx.server.reset()

    def one(_: int) -> dict[str, Any]:
        return _each(
            ctx,
            "throughput",
            lambda kind: {
                "op": "throughput",
                "n": s.throughput_n[kind],
                "concurrency": s.concurrency,
                "warmup": max(s.throughput_n[kind] // 10, s.concurrency),
                "max_s": s.section_cap_s,
            },
            s.section_cap_s * 2 + 120,
        )

    rounds = _rounds(ctx, one, s.rounds, "throughput")
    summary = {}
    for kind in _kinds(rounds):
        summary[DISPLAY[kind]] = {
            "rps": spread([r[kind]["rps"] for r in rounds]).to_json(),
            "vs_raw": spread([r[kind]["rps"] / r["raw"]["rps"] for r in rounds]).to_json(),
            "cpu_us": spread([r[kind]["cpu_us"] for r in rounds]).to_json(),
            "added_cpu_us": spread(_added(rounds, kind, "cpu_us")).to_json(),
            "cpu_share": spread([r[kind]["cpu_share"] for r in rounds]).to_json(),
            "errors": sum(r[kind]["errors"] for r in rounds),
            "n": rounds[0][kind]["n"],
        }
    return {"rounds": rounds, "summary": summary}


def streaming(ctx: Context) -> dict[str, Any]:
    """Item 3: chunks relayed per second, and added time to first token."""
    s = ctx.settings
    cap = s.section_cap_s

    def one(_: int) -> dict[str, Any]:
        ctx.server.weather({"alpha": Weather(stream_chunks=s.stream_chunks)})
        out = _each(
            ctx, "streaming", lambda kind: {"op": "stream_rate", "streams": s.streams[kind], "max_s": cap}, cap + 120
        )
        ctx.server.weather({"alpha": Weather(stream_chunks=20, first_token_ms=1.0)})
        ttft = _each(
            ctx,
            "streaming",
            lambda kind: {"op": "ttft", "n": s.ttft_n[kind], "warmup": max(s.ttft_n[kind] // 10, 5), "max_s": cap},
            cap + 120,
        )
        ctx.server.reset()
        return {k: {**v, "ttft": ttft[k]} for k, v in out.items() if k in ttft}

    rounds = _rounds(ctx, one, s.rounds, "streaming")
    summary = {}
    for kind in _kinds(rounds):
        summary[DISPLAY[kind]] = {
            "us_per_chunk": spread([r[kind]["us_per_chunk"] for r in rounds]).to_json(),
            "added_us_per_chunk": spread(_added(rounds, kind, "us_per_chunk")).to_json(),
            "cpu_us_per_chunk": spread([r[kind]["cpu_us_per_chunk"] for r in rounds]).to_json(),
            "added_cpu_us_per_chunk": spread(_added(rounds, kind, "cpu_us_per_chunk")).to_json(),
            "chunks_per_s": spread([r[kind]["chunks_per_s"] for r in rounds]).to_json(),
            "ttft_p50_us": spread([r[kind]["ttft"]["p50_us"] for r in rounds]).to_json(),
            "ttft_p99_us": spread([r[kind]["ttft"]["p99_us"] for r in rounds]).to_json(),
            "added_ttft_p50_us": spread(
                [r[kind]["ttft"]["p50_us"] - r["raw"]["ttft"]["p50_us"] for r in rounds]
            ).to_json(),
        }
    return {"rounds": rounds, "summary": summary, "chunks_per_stream": s.stream_chunks}


def memory(ctx: Context) -> dict[str, Any]:
    """Item 4b: RSS growth over many requests, a third of them failing over."""
    s = ctx.settings
    out: dict[str, Any] = {}
    for kind in ("raw", "polyroute"):
        ctx.server.reset()
        ctx.server.weather({"beta": Weather(error_rate=1 / 3, seed=7)})
        out[DISPLAY[kind]] = ctx.workers[kind].call(
            {"op": "memory", "n": s.memory_n, "warmup": s.memory_warmup, "concurrency": s.concurrency, "max_s": 240},
            timeout=600,
        )
        ctx.say(f"memory: {kind} done")
    ctx.server.reset()
    return out


def planning(ctx: Context) -> dict[str, Any]:
    """Item 5: planning cost against catalog size."""
    s = ctx.settings
    w = ctx.workers["polyroute"]

    def one(_: int) -> dict[str, Any]:
        return w.call({"op": "plan", "sizes": s.plan_sizes, "min_time": s.plan_min_time}, timeout=600)

    rounds = _rounds(ctx, one, s.plan_rounds, "planning")
    summary: list[dict[str, Any]] = []
    for i, n in enumerate(s.plan_sizes):
        summary.append({"n": n, "us_per_plan": spread([r["points"][i]["us_per_plan"] for r in rounds]).to_json()})
    growth = growth_check([(p["n"], p["us_per_plan"]["median"]) for p in summary])
    sizes = [3, 1000]

    def by_strategy(_: int) -> dict[str, Any]:
        return w.call({"op": "plan_strategies", "sizes": sizes, "min_time": s.plan_min_time}, timeout=600)

    per = _rounds(ctx, by_strategy, s.plan_rounds, "planning by strategy")
    strategies = [
        {**pt, "us_per_plan": spread([r["points"][i]["us_per_plan"] for r in per]).to_json()}
        for i, pt in enumerate(per[0]["points"])
    ]
    return {"rounds": rounds, "summary": summary, "growth": growth, "strategies": strategies}


def routing_quality(ctx: Context) -> dict[str, Any]:
    """Item 6: success, latency and cost under provider weather."""
    s = ctx.settings
    systems: list[tuple[str, str]] = [("polyroute", strategy) for strategy in STRATEGIES]  # (worker kind, strategy)
    if "litellm" in ctx.workers:
        systems.append(("litellm", "default"))
    systems.append(("raw", "default"))
    specs = scenarios(s.scenario_duration, seed=0)
    rounds: list[dict[str, Any]] = []
    for r in range(s.scenario_rounds):
        if r and ctx.time_left() < 0:
            ctx.say(f"scenarios: time budget spent, stopping after {r} rounds")
            break
        t0 = time.monotonic()
        this: dict[str, Any] = {}
        for spec in specs:
            for kind, strategy in systems:
                reply = ctx.workers[kind].call(
                    {
                        "op": "scenario",
                        "scenario": spec.key,
                        "strategy": strategy,
                        "rate": s.scenario_rate,
                        "duration": s.scenario_duration,
                        "seed": 1000 + r,
                    },
                    timeout=s.scenario_duration + 120,
                )
                round_spec = next(x for x in scenarios(s.scenario_duration, 1000 + r) if x.key == spec.key)
                this.setdefault(spec.key, {})[reply["system"]] = summarize(reply["records"], round_spec)
        rounds.append(this)
        ctx.say(f"scenarios: round {r + 1}/{s.scenario_rounds} in {time.monotonic() - t0:.1f}s")
    summary: dict[str, Any] = {}
    for spec in specs:
        per: dict[str, Any] = {}
        for name in rounds[0][spec.key]:
            vals = [rd[spec.key][name] for rd in rounds]
            per[name] = {
                k: spread([v[k] for v in vals]).to_json()
                for k in ("success_rate", "p50_ms", "p99_ms", "max_ms", "cost_usd", "cost_ratio")
            }
            per[name]["slow"] = sum(v["slow"] for v in vals)
            per[name]["requests"] = sum(v["requests"] for v in vals)
            per[name]["failed"] = sum(round((1 - v["success_rate"]) * v["requests"]) for v in vals)
            per[name]["served"] = _merge([v["served"] for v in vals])
            per[name]["errors"] = _merge([v["errors"] for v in vals])
            # the router's own accounting (polyroute) against ours; a call in flight across a reload
            # is billed by the router at the old prices, so allow 1 %
            per[name]["reported_cost_matches"] = all(
                v["reported_cost_usd"] is None or abs(v["reported_cost_usd"] - v["cost_usd"]) <= 0.01 * v["cost_usd"]
                for v in vals
            )
        summary[spec.key] = per
    raised = {**PRICES, "alpha": RAISED_ALPHA}
    return {
        "strategies": {name: prefs for name, prefs in STRATEGIES.items()},
        "default_first_pick": {"before": default_first_pick(PRICES), "after_price_change": default_first_pick(raised)},
        "default_cost_ratio": {"before": default_cost_ratio(PRICES), "after_price_change": default_cost_ratio(raised)},
        "systems": [f"{DISPLAY[k]}:{st}" for k, st in systems],
        "scenarios": [{"key": x.key, "title": x.title, "description": x.description} for x in specs],
        "rounds": rounds,
        "summary": summary,
        "rate": s.scenario_rate,
        "duration": s.scenario_duration,
    }


def _merge(counts: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            out[str(k)] = out.get(str(k), 0) + v
    return out
