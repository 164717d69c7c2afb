"""Writing ``docs/benchmarks.md`` and its SVG charts from a results dict."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from benchmarks._gateway_report import kept_sections
from benchmarks._planning import growth_check
from benchmarks._svg import Bar, Series, bar_chart, grouped_bar_chart, line_chart
from benchmarks.embeddings import kept_sections as embedding_sections

__all__ = ["render", "targets"]

ASSETS = "assets/benchmarks"


def _f(v: float | None, digits: int = 0) -> str:
    if v is None or math.isnan(v):
        return "n/a"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def _s(d: dict[str, float] | None, digits: int = 0, scale: float = 1.0) -> str:
    """``median [min, max]``."""
    if not d or d.get("rounds", 0) == 0:
        return "n/a"
    m, lo, hi = d["median"] * scale, d["min"] * scale, d["max"] * scale
    return f"{_f(m, digits)} [{_f(lo, digits)}, {_f(hi, digits)}]"


def _bar(label: str, d: dict[str, float], scale: float = 1.0) -> Bar:
    return Bar(label, d["median"] * scale, d["min"] * scale, d["max"] * scale)


def _status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def targets(res: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(item, target, measured, met) for every target of the issue."""
    out: list[tuple[str, str, str, bool | None]] = []
    lat = res.get("latency", {}).get("summary", {}).get("polyroute")
    if lat:
        p50, p99 = lat["added_p50_us"]["median"], lat["added_p99_us"]["median"]
        out.append(("1. added latency p50", "≤ 300 µs", f"{_f(p50)} µs", p50 <= 300))
        out.append(("1. added latency p99", "≤ 1,000 µs", f"{_f(p99)} µs", p99 <= 1000))
        out.append(("1. added CPU per request", "(reported)", f"{_f(lat['added_cpu_us']['median'])} µs", None))
    thr = res.get("throughput", {}).get("summary", {}).get("polyroute")
    if thr:
        rps, rel = thr["rps"]["median"], thr["vs_raw"]["median"]
        out.append(("2. throughput, 50 concurrent, one core", "≥ 2,000 req/s", f"{_f(rps)} req/s", rps >= 2000))
        out.append(("2. throughput vs raw aiohttp", "≥ 50 %", f"{_f(rel * 100)} %", rel >= 0.5))
    st = res.get("streaming", {}).get("summary", {}).get("polyroute")
    if st:
        added = st["added_us_per_chunk"]["median"]
        added_cpu = st["added_cpu_us_per_chunk"]["median"]
        out.append(("3. streaming, added wall time per chunk", "≤ 5 µs", f"{_f(added, 1)} µs", added <= 5))
        out.append(("3. streaming, added CPU time per chunk", "≤ 5 µs", f"{_f(added_cpu, 1)} µs", added_cpu <= 5))
        out.append(
            (
                "3. streaming, added time to first token",
                "(reported)",
                f"{_f(st['added_ttft_p50_us']['median'])} µs",
                None,
            )
        )
    imp = res.get("imports", {})
    if "import polyroute" in imp:
        t = imp["import polyroute"]["seconds"]["median"] * 1000
        cpu = imp["import polyroute"].get("cpu_seconds", {}).get("median", float("nan")) * 1000
        rss = imp["import polyroute"]["rss_mb"]["median"]
        out.append(("4. import polyroute", "≤ 150 ms", f"{_f(t)} ms (CPU {_f(cpu)} ms)", t <= 150))
        out.append(("4. RSS after import", "≤ 40 MB", f"{_f(rss, 1)} MB", rss <= 40))
    mem = res.get("memory", {}).get("polyroute")
    if mem:
        g = mem["growth_mb"]
        out.append((f"4. RSS growth over {mem['n']:,} requests", "< 5 MB", f"{_f(g, 2)} MB", g < 5))
    plan = res.get("planning", {})
    if plan:
        at1000 = next((p for p in plan["summary"] if p["n"] == 1000), None)
        growth = growth_check([(p["n"], p["us_per_plan"]["median"]) for p in plan["summary"]])
        out.append(
            (
                "5. planning growth",
                "≤ n log n",
                f"log-log slope {growth['loglog_slope']:.2f} (n log n: {growth['nlogn_slope']:.2f})",
                growth["ok"],
            )
        )
        if at1000:
            out.append(
                ("5. planning at 1,000 endpoints", "(reported)", f"{_f(at1000['us_per_plan']['median'])} µs", None)
            )
    if res.get("routing", {}).get("summary"):
        out += _routing_targets(res["routing"])
    obs = res.get("observability", {}).get("variants")
    if obs:
        both = obs["both"]["added_us"]["median"]
        if "both_free" in obs:
            own = obs["both_free"]["added_us"]["median"]
            label = "observability: polyroute's own added CPU per call, spans + metrics"
            out.append((label, "≤ 15 µs", f"{_f(own, 1)} µs", own <= 15))
        label = "observability: the same, the OpenTelemetry SDK's span making included"
        out.append((label, "(reported)", f"{_f(both, 1)} µs", None))
    return out


def _polyroute_systems(rq: dict[str, Any]) -> list[str]:
    """The polyroute systems of the routing scenarios, in the order they ran."""
    return [name for name in next(iter(rq.values())) if name.startswith("polyroute")]


#: why a strategy's cost may be off the cheapest routing by design
_COST_NOTES = {
    "default": ": load balancing spreads calls by 1 / price² on purpose (see 6.)",
    "sort: latency": ": buys speed, not price, by design",
    "sort: ordered": ": a fixed order ignores the price change (as LiteLLM's chain does)",
}


def _routing_targets(sec: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """Item 6, per polyroute strategy: the worst success rate (every scenario keeps one endpoint
    healthy) and the worst cost ratio over the scenarios."""
    rq = sec["summary"]
    titles = {x["key"]: x["title"].lower() for x in sec["scenarios"]}
    success: list[tuple[str, str, str, bool | None]] = []
    cost: list[tuple[str, str, str, bool | None]] = []
    for name in _polyroute_systems(rq):
        runs = {key: per[name] for key, per in rq.items() if name in per}
        worst_ok = min(runs, key=lambda k: runs[k]["success_rate"]["min"])
        ok = runs[worst_ok]["success_rate"]["min"]
        worst_cost = max(runs, key=lambda k: runs[k]["cost_ratio"]["median"])
        ratio = runs[worst_cost]["cost_ratio"]["median"]
        label = name.removeprefix("polyroute ").strip("()")
        where = "in every scenario" if ok >= 1.0 else f"worst, {titles[worst_ok]}"
        success.append(
            (f"6. success with one endpoint healthy, {label}", "≥ 99.9 %", f"{ok * 100:.2f} % ({where})", ok >= 0.999)
        )
        note = _COST_NOTES.get(label, "") if ratio > 1.05 else ""
        cost.append(
            (
                f"6. cost vs cheapest feasible, {label}",
                "within 5 %",
                f"worst {(ratio - 1) * 100:+.1f} % ({titles[worst_cost]}){note}",
                ratio <= 1.05,
            )
        )
    return success + cost


def _env_section(res: dict[str, Any]) -> list[str]:
    env = res["meta"]["env"]
    pk = env["packages"]
    return [
        "| | |",
        "|---|---|",
        f"| date | {env['date_utc']} |",
        f"| CPU | {env['cpu']}, {env['cpus']} cores (client on core 0, server on core 1) |",
        f"| OS | {env['os']} |",
        f"| Python | {env['python']} |",
        "| packages | " + ", ".join(f"{k} {v}" for k, v in pk.items()) + " |",
        f"| polyroute commit | {env['commit']} |",
        f"| load average (1/5/15 min) at start; end | {env['loadavg_start']}; {res['meta'].get('loadavg_end', '?')} |",
        f"| mode, rounds | {res['meta']['settings']['mode']}, {res['meta']['settings']['rounds']} rounds "
        f"(scenarios: {res['meta']['settings']['scenario_rounds']}) |",
        f"| total run time | {res['meta'].get('duration_s', 0):.0f} s |",
    ]


def _latency(res: dict[str, Any], assets: Path) -> list[str]:
    sec = res.get("latency")
    if not sec:
        return []
    lines = [
        "## 1. Added latency per request (concurrency 1)",
        "",
        "Sequential non-streamed calls to the same loopback endpoint. *Added* is the client's percentile minus raw "
        "aiohttp's in the same round; medians over rounds, [min, max] in brackets.",
        "",
        "| client | requests / round | p50 µs | p99 µs | added p50 µs | added p99 µs | CPU µs / request "
        "| added CPU µs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, d in sec["summary"].items():
        raw = name == "raw aiohttp"
        lines.append(
            f"| {name} | {d['n']:,} | {_s(d['p50_us'])} | {_s(d['p99_us'])} | "
            f"{'—' if raw else _s(d['added_p50_us'])} | {'—' if raw else _s(d['added_p99_us'])} | "
            f"{_s(d['cpu_us'])} | {'—' if raw else _s(d['added_cpu_us'])} |"
        )
    own = sec.get("own")
    if own:
        lines += [
            "",
            f"polyroute's own work, the same calls over an in-memory transport (canned bytes, no socket): "
            f"**{_s(own['cpu_us'], 1)} µs** of CPU per call, **{_s(own['cpu_us_per_chunk'], 1)} µs** per streamed "
            "chunk (decoding included, which any client does). The added CPU above is larger: polyroute and "
            "aiohttp timed apart cost less than the two interleaved in one process (they compete for the CPU's "
            "caches), and that difference shows up as added time.",
        ]
    bars = [_bar(n, d["added_p50_us"]) for n, d in sec["summary"].items() if n != "raw aiohttp"]
    bar_chart(
        assets / "latency.svg", "Added latency per request, p50", "µs over raw aiohttp", bars, log=True, target=300
    )
    return [*lines, "", f"![Added latency p50]({ASSETS}/latency.svg)", ""]


def _throughput(res: dict[str, Any], assets: Path) -> list[str]:
    sec = res.get("throughput")
    if not sec:
        return []
    lines = [
        "## 2. Throughput (50 concurrent requests, client on one core)",
        "",
        "*CPU µs / request* is the client process's CPU time over the requests it made; *client busy* is that CPU "
        "time over the wall time: below 100 % the client waited (for the server, or for a core shared with other "
        "work).",
        "",
        "| client | requests / round | req/s | share of raw aiohttp | CPU µs / request | added CPU µs | client busy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, d in sec["summary"].items():
        raw = name == "raw aiohttp"
        lines.append(
            f"| {name} | {d['n']:,} | {_s(d['rps'])} | {_s(d['vs_raw'], 0, 100)} % | {_s(d['cpu_us'])} | "
            f"{'—' if raw else _s(d['added_cpu_us'])} | {_s(d['cpu_share'], 0, 100)} % |"
        )
    bars = [_bar(n, d["rps"]) for n, d in sec["summary"].items()]
    bar_chart(assets / "throughput.svg", "Throughput, 50 concurrent, one core", "requests / s", bars, target=2000)
    return [*lines, "", f"![Throughput]({ASSETS}/throughput.svg)", ""]


def _streaming(res: dict[str, Any], assets: Path) -> list[str]:
    sec = res.get("streaming")
    if not sec:
        return []
    lines = [
        "## 3. Streaming",
        "",
        f"Chunk rate: sequential streams of {sec['chunks_per_stream']:,} content chunks each, everything relayed to "
        "the caller as chunk objects (raw aiohttp: split SSE frames and `orjson.loads` each, the least a client "
        "does). Time to first token: 20-chunk streams whose server holds everything after the first content chunk "
        "for 1 ms.",
        "",
        "| client | µs / chunk | added µs / chunk | CPU µs / chunk | added CPU µs / chunk | chunks / s "
        "| TTFT p50 µs | added TTFT p50 µs | TTFT p99 µs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, d in sec["summary"].items():
        raw = name == "raw aiohttp"
        lines.append(
            f"| {name} | {_s(d['us_per_chunk'], 1)} | {'—' if raw else _s(d['added_us_per_chunk'], 1)} | "
            f"{_s(d['cpu_us_per_chunk'], 1)} | {'—' if raw else _s(d['added_cpu_us_per_chunk'], 1)} | "
            f"{_s(d['chunks_per_s'])} | {_s(d['ttft_p50_us'])} | {'—' if raw else _s(d['added_ttft_p50_us'])} | "
            f"{_s(d['ttft_p99_us'])} |"
        )
    bars = [_bar(n, d["us_per_chunk"]) for n, d in sec["summary"].items()]
    bar_chart(assets / "streaming.svg", "Time per streamed chunk", "µs per chunk", bars, log=True)
    return [*lines, "", f"![Time per chunk]({ASSETS}/streaming.svg)", ""]


def _imports(res: dict[str, Any], assets: Path) -> list[str]:
    imp = res.get("imports")
    mem = res.get("memory")
    lines: list[str] = []
    if imp:
        lines += [
            "## 4. Import time and memory",
            "",
            "Each figure is a fresh interpreter on core 0 (bytecode caches warm, as after `pip install`). "
            "RSS includes the interpreter itself (first row).",
            "",
            "| what | time ms | CPU ms | RSS after, MB |",
            "|---|---:|---:|---:|",
        ]
        for label, d in imp.items():
            cpu = _s(d["cpu_seconds"], 0, 1000) if "cpu_seconds" in d else "n/a"
            lines.append(f"| {label} | {_s(d['seconds'], 0, 1000)} | {cpu} | {_s(d['rss_mb'], 1)} |")
        bars = [_bar(k, d["seconds"], 1000) for k, d in imp.items() if k.startswith("import ")]
        bar_chart(assets / "imports.svg", "Import time", "ms", bars, log=True, target=150)
        bars = [_bar(k, d["rss_mb"]) for k, d in imp.items() if k.startswith("import ")]
        bar_chart(assets / "rss.svg", "RSS after import", "MB", bars, target=40)
        lines += ["", f"![Import time]({ASSETS}/imports.svg)", "", f"![RSS after import]({ASSETS}/rss.svg)", ""]
    if mem:
        lines += [
            "### RSS growth under load",
            "",
            "Two endpoints tried in configured order (`sort: ordered`); the first answers 500 to a third of requests "
            "(seeded), and every failure fails over to the second (no same-endpoint retry, breaker threshold out of "
            "reach, so failover really happens a third of the time). RSS (`VmRSS`) after a warm-up and "
            "`gc.collect()`, then again after the run. Raw aiohttp does the same failover by hand: the noise floor.",
            "",
            "| client | requests | failed over | req/s | RSS before MB | RSS after MB | growth MB |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, d in mem.items():
            lines.append(
                f"| {name} | {d['n']:,} | {d['failovers']:,} | {_f(d['rps'])} | {_f(d['rss_before_mb'], 1)} | "
                f"{_f(d['rss_after_mb'], 1)} | {_f(d['growth_mb'], 2)} |"
            )
        lines.append("")
    return lines


_OBS_LABELS = {
    "none": "no observers (logs quiet)",
    "otel": "OpenTelemetry (SDK, BatchSpanProcessor, exporter drops)",
    "otel_unsampled": "OpenTelemetry, call not sampled",
    "prometheus": "Prometheus (default registry)",
    "both": "both",
    "otel_free": "OpenTelemetry on a tracer whose spans cost nothing (polyroute's own work)",
    "both_free": "both, on a tracer whose spans cost nothing (polyroute's own work)",
}


def _observability(res: dict[str, Any], assets: Path) -> list[str]:
    sec = res.get("observability")
    if not sec:
        return []
    lines = [
        "## Observability",
        "",
        f"polyroute's own CPU per non-streamed call over the in-memory transport (no socket), {sec['n']:,} calls "
        f"after a warm-up, in a fresh interpreter per variant and round ({sec['rounds']} rounds, interleaved); "
        '"added" is the difference with the first row in the same round. The last two columns are the '
        "OpenTelemetry SDK alone on the same set-up: two spans without attributes, and the two spans a call "
        "makes with the attributes polyroute gives them (the floor of recording them). "
        "`python -m benchmarks._observability` runs this alone (`--callgrind`: instructions per call, "
        "repeatable under load); `--compare OTHER/src` times the first row against another checkout.",
        "",
        "| observers | CPU µs per call | added µs | SDK alone: two bare spans, µs | SDK alone: the same spans, µs |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, d in sec["variants"].items():
        floor = _s(d["sdk_floor_us"], 1) if d.get("sdk_floor_us") else ""
        spans = _s(d["sdk_spans_us"], 1) if d.get("sdk_spans_us") else ""
        added = _s(d["added_us"], 1) if name != "none" else ""
        lines.append(f"| {_OBS_LABELS.get(name, name)} | {_s(d['cpu_us'], 1)} | {added} | {floor} | {spans} |")
    return [*lines, ""]


def _planning(res: dict[str, Any], assets: Path) -> list[str]:
    sec = res.get("planning")
    if not sec:
        return []
    pts = [(p["n"], p["us_per_plan"]["median"]) for p in sec["summary"]]
    lines = [
        "## 5. Planning cost against catalog size",
        "",
        "`router.plan(model)` for one model served by n endpoints (on min(n, 100) providers), all healthy.",
        "",
        "| endpoints | µs per plan | µs per endpoint |",
        "|---:|---:|---:|",
    ]
    for p in sec["summary"]:
        lines.append(f"| {p['n']:,} | {_s(p['us_per_plan'], 1)} | {p['us_per_plan']['median'] / p['n']:.2f} |")
    g = growth_check(pts)
    lines += [
        "",
        f"Log-log slope (n ≥ 100): **{g['loglog_slope']:.2f}**; n log n over the same sizes has "
        f"{g['nlogn_slope']:.2f} and linear 1.00 (the target counts a slope up to n log n's + 0.05 as met). "
        f"Worst step between consecutive sizes, relative to n log n: {g['worst_step_vs_nlogn']:.2f}x.",
    ]
    if sec.get("strategies"):
        sizes = sorted({p["n"] for p in sec["strategies"]})
        names = list(dict.fromkeys(p["strategy"] for p in sec["strategies"]))
        cell = {(p["strategy"], p["n"]): p["us_per_plan"] for p in sec["strategies"]}
        lines += [
            "",
            'By strategy (`provider={"sort": ...}` on the call; the table above is the default), µs per plan:',
            "",
            "| strategy | " + " | ".join(f"{n:,} endpoints" for n in sizes) + " |",
            "|---|" + "---:|" * len(sizes),
        ]
        for name in names:
            lines.append(f"| {name} | " + " | ".join(_s(cell.get((name, n)), 1) for n in sizes) + " |")
    n0, t0 = pts[2] if len(pts) > 2 else pts[0]
    ref = tuple((n, t0 * (n * math.log(n)) / (n0 * math.log(n0))) for n, _ in pts)
    line_chart(
        assets / "planning.svg",
        "Planning cost vs catalog size",
        "endpoints for the model",
        "µs per plan",
        [Series("polyroute", points=tuple(pts)), Series("n log n reference", points=ref)],
    )
    return [*lines, "", f"![Planning cost]({ASSETS}/planning.svg)", ""]


def _routing(res: dict[str, Any], assets: Path) -> list[str]:
    sec = res.get("routing")
    if not sec:
        return []
    lines = [
        "## 6. Routing quality under provider weather",
        "",
        "Three providers serve one model: **alpha** (cheapest, 20 ms), **beta** (+20 % price, 12 ms, fastest), "
        "**gamma** (2x price, 30 ms), configured in price order. Requests arrive open-loop at "
        f"{sec['rate']:g}/s for {sec['duration']:g} s; the weather hits alpha from 20 % to 80 % of the run "
        "(the price change at half-time). Latency figures are over successful requests (*> 0.5 s*: how many, over all "
        "rounds, took longer than half a second). The cost ratio "
        "compares with the cheapest feasible routing (every success charged the cheapest endpoint able to serve it "
        "then), so 1.00 is optimal.",
        "",
        *_system_notes(sec),
        "",
    ]
    titles = {x["key"]: x for x in sec["scenarios"]}
    for key, per in sec["summary"].items():
        x = titles[key]
        lines += [
            f"### {x['title']}",
            "",
            f"{x['description'][0].upper()}{x['description'][1:]}.",
            "",
            "| system | success % | failed / requests | p50 ms | p99 ms | max ms | > 0.5 s | cost ratio | served by |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for name, d in per.items():
            served = ", ".join(f"{k} {v}" for k, v in sorted(d["served"].items()))
            lines.append(
                f"| {name} | {_s(d['success_rate'], 2, 100)} | {d['failed']} / {d['requests']} | "
                f"{_s(d['p50_ms'], 1)} | "
                f"{_s(d['p99_ms'], 1)} | {_s(d.get('max_ms'), 0)} | {d.get('slow', 'n/a')} | "
                f"{_s(d['cost_ratio'], 3)} | {served} |"
            )
        lines.append("")
    groups = [titles[k]["title"] for k in sec["summary"]]
    names = list(next(iter(sec["summary"].values())).keys())

    def series(metric: str, scale: float = 1.0) -> list[Series]:
        return [Series(n, tuple(sec["summary"][k][n][metric]["median"] * scale for k in sec["summary"])) for n in names]

    grouped_bar_chart(
        assets / "routing_success.svg", "Success rate by scenario", "%", groups, series("success_rate", 100)
    )
    grouped_bar_chart(assets / "routing_p99.svg", "p99 latency by scenario", "ms", groups, series("p99_ms"), log=True)
    grouped_bar_chart(assets / "routing_cost.svg", "Cost / cheapest feasible", "ratio", groups, series("cost_ratio"))
    lines += [
        f"![Success rate]({ASSETS}/routing_success.svg)",
        "",
        f"![p99 latency]({ASSETS}/routing_p99.svg)",
        "",
        f"![Cost ratio]({ASSETS}/routing_cost.svg)",
        "",
    ]
    return lines


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def _system_notes(sec: dict[str, Any]) -> list[str]:
    """What each system in the routing scenarios is."""
    pick = sec.get("default_first_pick", {}).get("before", {})
    ratio = sec.get("default_cost_ratio", {})
    chances = ", ".join(f"{p} {_pct(v)}" for p, v in pick.items())
    notes = {
        "default": (
            "no `sort`: OpenRouter's load balancing. Each call's first endpoint is drawn with probability "
            f"proportional to 1 / price² among the endpoints without a recent outage ({chances} here), the rest "
            "follow cheapest first; an endpoint that failed in the last 30 s goes behind the stable ones. It spreads "
            "load across providers on purpose, so it does not aim at the cheapest routing: its expected cost is "
            f"{ratio.get('before', float('nan')):.2f}x the cheapest in fair weather at these prices, "
            f"{ratio.get('after_price_change', float('nan')):.2f}x after the price change."
        ),
        "sort: price": (
            '`provider={"sort": "price"}`: lowest estimated cost first, then the next cheapest. It ignores '
            "recent outages (as on OpenRouter); a failing endpoint keeps its place until its breaker opens."
        ),
        "sort: latency": (
            '`provider={"sort": "latency"}`: lowest recent time to first token first (an average of the last '
            "successes weighted to the newest); endpoints not measured yet come first, so each is measured once."
        ),
        "sort: ordered": (
            '`provider={"sort": "ordered"}`: the configured order alpha → beta → gamma, the same chain as '
            "LiteLLM's fallbacks: the like-for-like reference."
        ),
    }
    lines = []
    for label, prefs in sec.get("strategies", {}).items():
        text = notes.get(label, f"`provider={prefs}`")
        lines.append(f"- **polyroute ({label})**: {text}")
    lines += [
        "- Every polyroute system runs with polyroute's defaults otherwise (1 retry, 0.25 s jittered backoff "
        "honouring Retry-After, breaker 3 failures / 30 s) and a 10 s per-call deadline. The price change is "
        "`router.reload(new_config)`: the new prices apply to calls made after it, breakers and statistics carry "
        "over, and the connection pools are kept (no provider changed).",
        "- **LiteLLM Router**: one deployment per provider, fallbacks alpha → beta → gamma, `num_retries=1`, "
        "timeout 10 s, everything else default (it routes by its chain whatever the prices: nothing to reload).",
        "- **single provider**: raw aiohttp to alpha, no retry.",
    ]
    return lines


_METHOD = """## Method

- **One run, one machine, one server.** A minimal HTTP/1.1 keep-alive server (a raw asyncio `Protocol` returning
  canned OpenAI JSON / SSE bodies, `benchmarks/_server.py`) runs in its own process pinned to core 1; each
  provider is its own port on 127.0.0.1, so "down" really refuses connections. Every client runs in its own
  worker process pinned to core 0 (so no client's imports or garbage slow another's), on one event loop kept
  across rounds. Rounds are interleaved across clients; figures are medians over rounds with [min, max].
- **The call.** One user message, `max_tokens=16`; the answer is read into Python objects (raw aiohttp: `orjson.loads`).
  polyroute: `await router.acompletion(...)` on a one-endpoint config. LiteLLM: `litellm.Router(...).acompletion`
  with `LITELLM_LOCAL_MODEL_COST_MAP=True`, callbacks and telemetry off. openai: `AsyncOpenAI(max_retries=0)`.
- **Bounded.** Every loop stops at its request count or its time cap; the server stops by itself (time to live,
  or when its parent exits); only 127.0.0.1 is used.
- **Noise.** The machine may be shared (see the load average above); interleaved rounds and same-round
  differences make the comparisons robust to slow drift, not to bursts: look at the [min, max] spread.
- Raw results (every round, every scenario request summary) are in `benchmarks/results/` (git-ignored).
"""


def render(res: dict[str, Any], doc: Path) -> None:
    """Write the page and its charts."""
    assets = doc.parent / ASSETS
    assets.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Benchmarks",
        "",
        "What polyroute costs per call, and how it routes when providers misbehave, measured side by side with "
        "raw aiohttp, the official openai client and LiteLLM Router. How each client handles sixteen ways a "
        "provider fails (and recovers) is on its own page: [Fault matrix](benchmarks-faults.md) "
        "(`python -m benchmarks.faults`). Generated by:",
        "",
        "```bash",
        res["meta"]["command"],
        "```",
        "",
        *_env_section(res),
        "",
        "## Targets",
        "",
        "| item | target | measured (median) | |",
        "|---|---|---|---|",
    ]
    for item, target, measured, ok in targets(res):
        lines.append(f"| {item} | {target} | {measured} | {_status(ok)} |")
    lines.append("")
    if res.get("failures"):
        lines += ["Failures during this run (left out of the tables):", ""]
        lines += [f"- `{k}`: {v}" for k, v in res["failures"].items()]
        lines.append("")
    for part in (_latency, _throughput, _streaming, _imports, _planning, _routing, _observability):
        lines += part(res, assets)
    lines += kept_sections(doc)  # the gateway's, written by `python -m benchmarks.gateway`
    lines += embedding_sections(doc)  # written by `python -m benchmarks.embeddings`
    lines += _kept_shared_state(doc)  # written by `python -m benchmarks.shared_state`
    lines.append(_METHOD)
    doc.write_text("\n".join(lines), encoding="utf-8")


def _kept_shared_state(doc: Path) -> list[str]:
    """The shared-state section written by ``python -m benchmarks.shared_state``, kept as it was."""
    start, end = "<!-- shared-state:start -->", "<!-- shared-state:end -->"
    page = doc.read_text(encoding="utf-8") if doc.exists() else ""
    if start not in page or end not in page:
        return []
    block = page.split(start, 1)[1].split(end, 1)[0]
    return [start + block + end, ""]
