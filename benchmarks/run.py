"""Run the benchmarks and write ``docs/benchmarks.md``.

    python -m benchmarks            # full run (about 13 minutes on 2 cores)
    python -m benchmarks --quick    # smoke run (about 3 minutes)
    python -m benchmarks --only latency,throughput
    python -m benchmarks --render benchmarks/results/latest.json   # rewrite the page from saved results
    python -m benchmarks --profile  # cProfile polyroute's hot paths into benchmarks/results/

Run from the repository root with the project's virtualenv active.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import _sections
from benchmarks._control import start_server
from benchmarks._env import environment, loadavg
from benchmarks._imports import measure_imports
from benchmarks._observability import measure_observability
from benchmarks._report import render, targets
from benchmarks._settings import FULL, QUICK, Settings
from benchmarks._workers import WorkerError, WorkerProc

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
SECTIONS = ("imports", "latency", "throughput", "streaming", "memory", "planning", "routing", "observability")
CLIENT_CPU, SERVER_CPU = 0, 1


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _litellm_available() -> bool:
    from importlib.util import find_spec

    return find_spec("litellm") is not None


def _run(args: argparse.Namespace, settings: Settings, only: set[str]) -> dict[str, Any]:
    started = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with_litellm = _litellm_available() and not args.no_litellm
    res: dict[str, Any] = {
        "meta": {
            "command": "python -m benchmarks" + ("".join(f" {shlex.quote(a)}" for a in args.argv)),
            "env": environment(ROOT),
            "settings": settings.to_json(),
        }
    }
    if "imports" in only:
        _say("imports: measuring (fresh interpreters)")
        res["imports"] = measure_imports(
            settings.import_rounds, settings.import_slow_rounds, ROOT, with_litellm=with_litellm
        )
    if "observability" in only:
        _say("observability: measuring (fresh interpreters, in-memory transport)")
        res["observability"] = measure_observability(settings.observability_rounds, settings.observability_n, ROOT)
    needs_workers = only - {"imports", "observability"}
    if needs_workers:
        log = open(RESULTS / "run.log", "ab")  # noqa: SIM115
        server_proc, server = start_server(
            ["alpha", "beta", "gamma"], cpu=SERVER_CPU, ttl=settings.budget_s + 600, log=RESULTS / "server.log"
        )
        workers: dict[str, WorkerProc] = {}
        try:
            kinds = ["raw", "polyroute", "openai"] + (["litellm"] if with_litellm else [])
            for kind in kinds:
                _say(f"starting {kind} worker")
                workers[kind] = WorkerProc(kind, server, cpu=CLIENT_CPU, root=ROOT, log=log)
            res["meta"]["worker_rss_mb"] = {k: w.ready["rss_mb"] for k, w in workers.items()}
            ctx = _sections.Context(settings, server, workers, started + settings.budget_s, _say)
            steps: list[tuple[str, str, Callable[[_sections.Context], dict[str, Any]]]] = [
                ("latency", "latency", _sections.latency),
                ("throughput", "throughput", _sections.throughput),
                ("streaming", "streaming", _sections.streaming),
                ("memory", "memory", _sections.memory),
                ("planning", "planning", _sections.planning),
                ("routing", "routing", _sections.routing_quality),
            ]
            for name, key, fn in steps:
                if name not in only:
                    continue
                _say(f"{name}: start")
                try:
                    res[key] = fn(ctx)
                except WorkerError as exc:
                    _say(f"{name}: FAILED: {exc}")
                    res.setdefault("failures", {})[name] = str(exc)
                _save(res, partial=True)
            if ctx.failures:
                res.setdefault("failures", {}).update(ctx.failures)
        finally:
            for w in workers.values():
                w.close()
            with contextlib.suppress(Exception):
                server.command({"op": "shutdown"})
            server.close()
            try:
                server_proc.wait(timeout=10)
            except Exception:
                server_proc.kill()
            log.close()
    res["meta"]["loadavg_end"] = loadavg()
    res["meta"]["duration_s"] = time.monotonic() - started
    return res


def _save(res: dict[str, Any], *, partial: bool = False) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    if partial:
        path = RESULTS / "partial.json"
    else:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"benchmarks-{res['meta']['settings']['mode']}-{stamp}.json"
        (RESULTS / "latest.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
    path.write_text(json.dumps(res, indent=1), encoding="utf-8")
    return path


def _profile(settings: Settings) -> None:
    """cProfile polyroute's throughput, latency and stream loops; write .prof and top-N text files."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    server_proc, server = start_server(["alpha", "beta", "gamma"], cpu=SERVER_CPU, ttl=600)
    log = open(RESULTS / "run.log", "ab")  # noqa: SIM115
    worker = WorkerProc("polyroute", server, cpu=CLIENT_CPU, root=ROOT, log=log)
    try:
        from benchmarks._weather import Weather

        for what, n in (("throughput", 5000), ("latency", 2000), ("stream", 20)):
            server.reset()
            if what == "stream":
                server.weather({"alpha": Weather(stream_chunks=settings.stream_chunks)})
            path = RESULTS / f"profile-{what}.prof"
            reply = worker.call({"op": "profile", "what": what, "n": n, "path": str(path), "top": 45}, timeout=300)
            (RESULTS / f"profile-{what}.txt").write_text(reply["top"], encoding="utf-8")
            _say(f"profile {what}: {reply['result']} -> {path}")
    finally:
        worker.close()
        server.command({"op": "shutdown"})
        server.close()
        server_proc.wait(timeout=10)
        log.close()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer rounds and requests")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out")
    ap.add_argument("--doc", type=Path, default=DOC, help="the Markdown page to write")
    ap.add_argument("--render", type=Path, help="only rewrite the page from a saved results JSON")
    ap.add_argument("--profile", action="store_true", help="cProfile polyroute's hot paths, write nothing else")
    args = ap.parse_args(argv)
    args.argv = argv
    settings = QUICK if args.quick else FULL
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {CLIENT_CPU})
    if args.render:
        res = json.loads(args.render.read_text(encoding="utf-8"))
        render(res, args.doc)
        _say(f"wrote {args.doc}")
        return 0
    if args.profile:
        _profile(settings)
        return 0
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections: {sorted(unknown)}")
    res = _run(args, settings, only)
    path = _save(res)
    render(res, args.doc)
    _say(f"results: {path}")
    _say(f"wrote {args.doc}")
    for item, target, measured, ok in targets(res):
        mark = "n/a " if ok is None else ("MET " if ok else "MISS")
        _say(f"  {mark} {item}: {measured} (target {target})")
    return 0
