"""Shared state on Redis: what it adds per call, next to LiteLLM Router with Redis.

``python -m benchmarks.shared_state [--quick] [--no-litellm] [--redis URL]`` starts the loopback
server (core 1) and one worker per client (core 0): raw aiohttp, polyroute in-process, polyroute
with ``router.state`` on Redis, the same two with a budget (one atomic Redis script per
reservation and per settlement with Redis; a dict in memory without), LiteLLM Router and LiteLLM
Router with Redis. It measures latency at concurrency 1 and throughput at 50 concurrent calls, in
interleaved rounds, and writes its section of ``docs/benchmarks.md`` (between the
``shared-state`` markers; the full run keeps that section), raw results to
``benchmarks/results/shared-state.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._control import start_server
from benchmarks._stats import spread
from benchmarks._workers import DISPLAY, WorkerError, WorkerProc

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
CLIENT_CPU, SERVER_CPU = 0, 1
START, END = "<!-- shared-state:start -->", "<!-- shared-state:end -->"

POLYROUTE = ("polyroute", "polyroute-redis", "polyroute-budget", "polyroute-redis-budget")
LITELLM = ("litellm", "litellm-redis")


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _counts(kind: str, quick: bool) -> tuple[int, int]:
    """(latency calls, throughput calls) per round."""
    if kind.startswith("litellm"):
        return (150, 400) if quick else (400, 1000)
    return (600, 3000) if quick else (2000, 10000)


def measure(workers: dict[str, WorkerProc], rounds: int, quick: bool) -> dict[str, Any]:
    lat: list[dict[str, Any]] = []
    thr: list[dict[str, Any]] = []
    for r in range(rounds):
        _say(f"round {r + 1}/{rounds}")
        lat_round: dict[str, Any] = {}
        thr_round: dict[str, Any] = {}
        for kind, w in workers.items():
            n_lat, n_thr = _counts(kind, quick)
            cmd = {"op": "latency", "n": n_lat, "warmup": max(n_lat // 10, 10), "max_s": 60}
            lat_round[kind] = w.call(cmd, timeout=200)
            cmd = {"op": "throughput", "n": n_thr, "concurrency": 50, "warmup": 100, "max_s": 60}
            thr_round[kind] = w.call(cmd, timeout=200)
        lat.append(lat_round)
        thr.append(thr_round)
    latency = {}
    for kind in workers:
        base = "litellm" if kind.startswith("litellm") else "polyroute"
        latency[kind] = {
            "n": lat[0][kind]["n"],
            "p50_us": spread([x[kind]["p50_us"] for x in lat]).to_json(),
            "p99_us": spread([x[kind]["p99_us"] for x in lat]).to_json(),
            "cpu_us": spread([x[kind]["cpu_us"] for x in lat]).to_json(),
            "added_p50_us": spread([x[kind]["p50_us"] - x[base]["p50_us"] for x in lat]).to_json()
            if base in workers
            else None,
            "added_cpu_us": spread([x[kind]["cpu_us"] - x[base]["cpu_us"] for x in lat]).to_json()
            if base in workers
            else None,
        }
    throughput = {}
    for kind in workers:
        base = "litellm" if kind.startswith("litellm") else "polyroute"
        throughput[kind] = {
            "n": thr[0][kind]["n"],
            "rps": spread([x[kind]["rps"] for x in thr]).to_json(),
            "cpu_us": spread([x[kind]["cpu_us"] for x in thr]).to_json(),
            "errors": sum(x[kind]["errors"] for x in thr),
            "vs_base": spread([x[kind]["rps"] / x[base]["rps"] for x in thr]).to_json() if base in workers else None,
        }
    return {"latency": latency, "throughput": throughput, "rounds": rounds}


_OWN = {
    "polyroute": (False, False),
    "polyroute-redis": (True, False),
    "polyroute-budget": (False, True),
    "polyroute-redis-budget": (True, True),
}


async def _own_one(redis: bool, budget: bool, n: int) -> dict[str, float]:
    """CPU and wall time per call over an in-memory transport (the background thread's CPU counted)."""
    import secrets

    import polyroute
    from benchmarks._clients import MAX_TOKENS, MESSAGES, MODEL
    from benchmarks._own import _InMemoryTransport
    from polyroute.catalog._config import load_catalog

    cfg: dict[str, Any] = {
        "providers": {"alpha": {"base_url": "http://127.0.0.1:9/v1"}},
        "models": {MODEL: {"endpoints": [{"provider": "alpha", "model": "alpha-model",
                                          "pricing": {"prompt": 5e-7, "completion": 1.5e-6}}]}},
    }  # fmt: skip
    if redis:
        prefix = f"bench-own-{secrets.token_hex(4)}"
        cfg["router"] = {"state": {"backend": "redis", "url": os.environ["BENCH_REDIS_URL"], "prefix": prefix}}
    params: dict[str, Any] = {}
    if budget:
        cfg["budgets"] = [{"scope": "user", "match": "*", "limit_usd": "1000000", "period": "day"}]
        params = {"user": "bench"}
    router = polyroute.Router(load_catalog(cfg), async_transport=lambda provider: _InMemoryTransport(1))
    try:
        for _ in range(max(n // 10, 10)):
            await router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, **params)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            await router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, **params)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        await router.aclose()
    return {"cpu_us": cpu / n * 1e6, "wall_us": wall / n * 1e6}


def measure_own(rounds: int, n: int) -> dict[str, Any]:
    """polyroute alone, each state variant, interleaved rounds (in this process, on the client core)."""
    import asyncio

    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {CLIENT_CPU})
    found: dict[str, list[dict[str, float]]] = {k: [] for k in _OWN}
    for r in range(rounds):
        _say(f"own work: round {r + 1}/{rounds}")
        for kind, (redis, budget) in _OWN.items():
            found[kind].append(asyncio.run(_own_one(redis, budget, n)))
    base = found["polyroute"]
    out = {}
    for kind, xs in found.items():
        out[kind] = {
            "n": n,
            "cpu_us": spread([x["cpu_us"] for x in xs]).to_json(),
            "wall_us": spread([x["wall_us"] for x in xs]).to_json(),
            "added_cpu_us": spread([x["cpu_us"] - b["cpu_us"] for x, b in zip(xs, base, strict=True)]).to_json(),
            "added_wall_us": spread([x["wall_us"] - b["wall_us"] for x, b in zip(xs, base, strict=True)]).to_json(),
        }
    return out


def _s(d: dict[str, float] | None, digits: int = 0, scale: float = 1.0) -> str:
    if not d:
        return "—"
    return f"{d['median'] * scale:,.{digits}f} [{d['min'] * scale:,.{digits}f}, {d['max'] * scale:,.{digits}f}]"


def section(res: dict[str, Any]) -> str:
    lat, thr = res["latency"], res["throughput"]
    load = res.get("load")
    lines = [
        START,
        "## 8. Shared state on Redis",
        "",
        f"Generated by `{res['command']}`"
        + (" (polyroute's own work re-measured with `--own-only`)" if res.get("own_only") else "")
        + f" ({res['when']}); Redis {res['redis_version']} on 127.0.0.1 (same machine, "
        "sharing its two cores with the server and the client)"
        + (f"; load average {load[0]:.1f} at the start, {load[1]:.1f} at the end (two cores)" if load else "")
        + ". Rounds interleave the clients; medians over "
        f"{res['rounds']} rounds, [min, max] in brackets. *Added* is against the same library without Redis "
        "(polyroute in-process, LiteLLM Router without Redis) in the same round. The budget rows reserve and "
        "settle a budget on every call: in memory, or with one atomic Redis script each.",
        "",
        "### Latency per call (concurrency 1)",
        "",
        "| client | calls / round | p50 µs | p99 µs | added p50 µs | CPU µs / call | added CPU µs |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, d in lat.items():
        lines.append(
            f"| {DISPLAY[kind]} | {d['n']:,} | {_s(d['p50_us'])} | {_s(d['p99_us'])} | {_s(d['added_p50_us'])} | "
            f"{_s(d['cpu_us'])} | {_s(d['added_cpu_us'])} |"
        )
    lines += [
        "",
        "### Throughput (50 concurrent calls, client on one core)",
        "",
        "| client | calls / round | req/s | share of the same library without Redis | CPU µs / call | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, d in thr.items():
        lines.append(
            f"| {DISPLAY[kind]} | {d['n']:,} | {_s(d['rps'])} | {_s(d['vs_base'], 0, 100)} % | {_s(d['cpu_us'])} | "
            f"{d['errors']} |"
        )
    own = res.get("own")
    if own:
        lines += [
            "",
            "### polyroute's own work per call (in-memory transport, no socket)",
            "",
            "The same non-streamed call over an in-memory transport, so only polyroute's work is timed: with the "
            "state on Redis, its background thread's CPU included, and with a budget on Redis, the two round trips.",
            "",
            "| state | calls / round | CPU µs / call | added CPU µs | wall µs / call | added wall µs |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for kind, d in own.items():
            lines.append(
                f"| {DISPLAY[kind]} | {d['n']:,} | {_s(d['cpu_us'], 1)} | {_s(d['added_cpu_us'], 1)} | "
                f"{_s(d['wall_us'], 1)} | {_s(d['added_wall_us'], 1)} |"
            )
    added = lat.get("polyroute-redis", {}).get("added_p50_us")
    share = thr.get("polyroute-redis", {}).get("vs_base")
    own_added = (own or {}).get("polyroute-redis", {}).get("added_wall_us")
    if added and share:
        ok_lat = "met" if added["median"] <= 150 else "missed"
        ok_thr = "met" if share["median"] >= 0.6 else "missed"
        lines += [
            "",
            "| target | measured (median) | |",
            "|---|---|---|",
            f"| state on Redis adds ≤ 150 µs p50 per call (concurrency 1), over loopback | {added['median']:+,.0f} µs "
            f"(spread {added['min']:+,.0f} to {added['max']:+,.0f}) | {ok_lat} |",
        ]
        if own_added:
            ok_own = "met" if own_added["median"] <= 150 else "missed"
            lines.append(
                f"| the same, polyroute's own work (in-memory transport, wall) | {own_added['median']:+,.1f} µs | "
                f"{ok_own} |"
            )
        lines.append(
            f"| ≥ 60 % of in-process throughput at 50 concurrent | {share['median'] * 100:,.0f} % | {ok_thr} |"
        )
    lines += [
        "",
        "Why so little: with the state on Redis, a call does no Redis I/O unless it needs an exact shared "
        "answer (a budget reservation, a rate-limit slot at a limited endpoint, a sticky session this process has "
        "not seen). Breakers, statistics and sticky writes travel on a background thread, batched in pipelines; "
        "breaker changes are published the moment they happen. A budget on Redis is the exception: two round trips "
        "per call (reserve, settle), awaited without blocking the event loop; redis-py's asyncio client makes "
        "them cost a few hundred microseconds of CPU per call here (see the budget rows above). "
        "That is the price of a budget no number of processes can overspend.",
        END,
    ]
    return "\n".join(lines)


def write_section(doc: Path, text: str) -> None:
    """Put the section into the page, replacing an earlier one."""
    page = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    if START in page and END in page:
        before, rest = page.split(START, 1)
        _, after = rest.split(END, 1)
        page = before + text + after
    else:
        marker = "## Method"
        if marker in page:
            before, after = page.split(marker, 1)
            page = before + text + "\n\n" + marker + after
        else:
            page = page.rstrip("\n") + "\n\n" + text + "\n"
    doc.write_text(page, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.shared_state", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    ap.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out")
    ap.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--doc", type=Path, default=DOC)
    ap.add_argument("--own-only", action="store_true", help="re-measure polyroute's own work only (keeps the rest)")
    args = ap.parse_args(argv)
    os.environ["BENCH_REDIS_URL"] = args.redis
    import redis

    client = redis.Redis.from_url(args.redis)
    version = client.info("server").get("redis_version", "?")
    client.close()
    RESULTS.mkdir(parents=True, exist_ok=True)
    rounds = args.rounds or (2 if args.quick else 3)
    own_n = 2000 if args.quick else 5000
    if args.own_only:
        res = json.loads((RESULTS / "shared-state.json").read_text(encoding="utf-8"))
        res["own"] = measure_own(rounds, own_n)
        res["own_only"] = True
        (RESULTS / "shared-state.json").write_text(json.dumps(res, indent=2), encoding="utf-8")
        write_section(args.doc, section(res))
        _say(f"wrote {args.doc}")
        return 0
    load_start = os.getloadavg()[0]
    kinds = ["raw", *POLYROUTE]
    if not args.no_litellm:
        try:
            import importlib.util

            if importlib.util.find_spec("litellm") is not None:
                kinds += LITELLM
        except ImportError:
            pass
    log = open(RESULTS / "shared-state.log", "ab")  # noqa: SIM115
    server_proc, server = start_server(["alpha"], cpu=SERVER_CPU, ttl=3600, log=RESULTS / "server.log")
    workers: dict[str, WorkerProc] = {}
    try:
        for kind in kinds:
            _say(f"starting {kind} worker")
            workers[kind] = WorkerProc(kind, server, cpu=CLIENT_CPU, root=ROOT, log=log)
        res = measure(workers, rounds, args.quick)
    except WorkerError as exc:
        _say(f"FAILED: {exc}")
        return 1
    finally:
        for w in workers.values():
            w.close()
        with contextlib.suppress(Exception):
            server.command({"op": "shutdown"})
        server.close()
        server_proc.wait(timeout=10)
        log.close()
    res["own"] = measure_own(rounds, own_n)
    res["load"] = [load_start, os.getloadavg()[0]]
    res["command"] = "python -m benchmarks.shared_state" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    res["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    res["redis_version"] = version
    (RESULTS / "shared-state.json").write_text(json.dumps(res, indent=2), encoding="utf-8")
    write_section(args.doc, section(res))
    _say(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
