"""A client process: one client kind, pinned to one CPU, driven by JSON-line commands.

``python -m benchmarks._worker --kind polyroute --server '{...}' --cpu 0`` answers ``{"ready": ...}``
once its client is built (so no import lands in a timed loop), then reads one JSON command per
line on stdin and writes one JSON reply per line. Anything a library prints goes to stderr. One
event loop serves every command, so connection pools stay warm across rounds, as in an app.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import sys
import time
from typing import Any, TextIO

from benchmarks import _loads
from benchmarks._clients import Client, make_client
from benchmarks._control import ServerHandle
from benchmarks._own import own_cost
from benchmarks._planning import plan_cost, strategy_cost
from benchmarks._scenarios import make_system, run_timeline, scenarios

__all__ = ["main"]


class Worker:
    """Runs commands for one client kind."""

    def __init__(self, kind: str, server: ServerHandle) -> None:
        self.kind = kind
        self.server = server
        self.client: Client = make_client(kind, server)

    async def run(self, cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd["op"]
        if op == "latency":
            return await _loads.latency(self.client, n=cmd["n"], warmup=cmd["warmup"], max_s=cmd["max_s"])
        if op == "throughput":
            return await _loads.throughput(
                self.client, n=cmd["n"], concurrency=cmd["concurrency"], warmup=cmd["warmup"], max_s=cmd["max_s"]
            )
        if op == "stream_rate":
            return await _loads.stream_rate(self.client, streams=cmd["streams"], max_s=cmd["max_s"])
        if op == "ttft":
            return await _loads.ttft(self.client, n=cmd["n"], warmup=cmd["warmup"], max_s=cmd["max_s"])
        if op == "memory":
            fn = _loads.memory_polyroute if self.kind == "polyroute" else _loads.memory_raw
            return await fn(
                self.server, n=cmd["n"], warmup=cmd["warmup"], concurrency=cmd["concurrency"], max_s=cmd["max_s"]
            )
        if op == "own":
            return await own_cost(self.server, n=cmd["n"], streams=cmd["streams"], chunks=cmd["chunks"])
        if op == "plan":
            return {"points": plan_cost(cmd["sizes"], min_time=cmd["min_time"])}
        if op == "plan_strategies":
            return {"points": strategy_cost(cmd["sizes"], min_time=cmd["min_time"])}
        if op == "scenario":
            return await self.scenario(cmd)
        if op == "profile":
            return await self.profile(cmd)
        if op == "rss":
            return {"rss_mb": _loads.rss_mb()}
        raise ValueError(f"unknown op {op!r}")

    async def scenario(self, cmd: dict[str, Any]) -> dict[str, Any]:
        spec = next(s for s in scenarios(cmd["duration"], cmd["seed"]) if s.key == cmd["scenario"])
        system = make_system(self.kind, self.server, cmd.get("strategy", "default"))
        t0 = time.perf_counter()
        try:
            records = await run_timeline(system, spec, self.server, rate=cmd["rate"], duration=cmd["duration"])
        finally:
            await system.aclose()
            self.server.reset()
        return {"system": system.name, "records": records, "seconds": time.perf_counter() - t0}

    async def profile(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """cProfile one load; dump the stats to ``cmd['path']`` and return the top functions."""
        profiler = cProfile.Profile()
        what = cmd["what"]
        profiler.enable()
        if what == "throughput":
            result = await _loads.throughput(self.client, n=cmd["n"], concurrency=50, warmup=0, max_s=60)
        elif what == "stream":
            result = await _loads.stream_rate(self.client, streams=cmd["n"], max_s=60)
        else:
            result = await _loads.latency(self.client, n=cmd["n"], warmup=0, max_s=60)
        profiler.disable()
        profiler.dump_stats(cmd["path"])
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(cmd.get("top", 40))
        return {"result": result, "top": text.getvalue()}


def _serve(worker: Worker, out: TextIO) -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    out.write(json.dumps({"ready": True, "kind": worker.kind, "rss_mb": _loads.rss_mb()}) + "\n")
    out.flush()
    try:
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["op"] == "quit":
                break
            try:
                reply = loop.run_until_complete(worker.run(cmd))
                reply["ok"] = True
            except Exception as exc:
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            out.write(json.dumps(reply) + "\n")
            out.flush()
    finally:
        loop.run_until_complete(worker.client.aclose())
        loop.close()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kind", required=True)
    ap.add_argument("--server", required=True, help="the server handle as JSON")
    ap.add_argument("--cpu", type=int, default=0)
    args = ap.parse_args(argv)
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # library prints go to stderr, replies to the saved stdout
    sys.stdout = sys.stderr
    worker = Worker(args.kind, ServerHandle.from_json(json.loads(args.server)))
    _serve(worker, out)


if __name__ == "__main__":
    main()
