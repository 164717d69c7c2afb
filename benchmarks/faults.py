"""The fault matrix: 16 ways a provider fails, side by side for five clients.

``python -m benchmarks.faults`` (about 3 minutes; ``--only 1,8`` for some scenarios, ``--systems``
for some clients) runs each client's cells in a process of its own, against a
:class:`~polyroute.testing.ProviderSimulator`, in **real time, unscaled** (a 30 s timeout takes
30 s: the compared clients sleep on the real clock, so simulated time cannot be used for them),
one primary ``a`` and one fallback ``b`` per cell, and writes ``docs/benchmarks-faults.md``.

Each cell is graded:

- **pass**: the correct outcome, within the scenario's time limit;
- **partial**: correct but slower than that, or routed around a refusal;
- **safe**: a clean typed error where an answer was possible;
- **fail**: a wrong or silent outcome (a truncated or duplicated answer reported as complete, the
  wrong cause), or no outcome within the cell's time box (a hang).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from polyroute.testing import (
    Behavior,
    Continue,
    Disconnect,
    ErrorReply,
    FunctionBehavior,
    Hang,
    MalformedJSON,
    ProviderSimulator,
    RecordedRequest,
    RejectContinuation,
    Reply,
    Stall,
)

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "benchmarks-faults.md"
RESULTS = ROOT / "benchmarks" / "results" / "faults.json"

#: 60 four-character tokens
FULL = "".join(f"w{i:02d} " for i in range(60))
FILTER_REASON = "Your request was rejected as a result of our safety system (content_filter: violence)."
MESSAGES = [{"role": "user", "content": "Write sixty words."}]
#: the longest any one cell may take before it counts as a hang
CELL_BOX = 150.0
READ_TIMEOUT = 30.0
RETRIES = 2
HEDGE_DELAY = 2.0

SCENARIOS: dict[int, str] = {
    1: "429 with Retry-After: 2 once, then fine",
    2: "429 on every call",
    3: "one 500, then fine",
    4: "503 on every call",
    5: "TCP reset before the response",
    6: "accepts the connection, never answers (stream)",
    7: "first token after 20 s (stream)",
    8: "stream cut after 40 of 60 tokens (stream)",
    9: "stream stalls 30 s after 20 tokens, then closes (stream)",
    10: "10th SSE frame is invalid JSON (stream)",
    11: "complete stream without [DONE] (stream)",
    12: "context-length 400 (fallback has a larger context)",
    13: "content-filter 400",
    14: "like 8, the fallback rejects a final assistant message (stream)",
    15: "503 from t=0 to 60 s, then fine; a request every 4 s",
    16: "after fail-over, response model and usage are the fallback's",
}
STREAMED = {6, 7, 8, 9, 10, 11, 14}
#: the time within which a correct outcome is a pass (seconds)
LIMIT: dict[int, float] = {6: 35.0, 7: 19.0, 9: 29.0, 15: 90.0}
DEFAULT_LIMIT = 5.0

SYSTEMS = {
    "polyroute": "polyroute, defaults",
    "polyroute-rh": "polyroute, recovery + hedging (2 s)",
    "litellm": "LiteLLM Router, fallbacks",
    "langchain": "LangChain with_fallbacks(ChatOpenAI)",
    "openai": "openai client (primary only)",
}


# -- scripting the providers -------------------------------------------------------------------


def script(n: int, started: Callable[[], float]) -> tuple[Behavior, Behavior]:
    """The primary's and the fallback's behaviour for scenario ``n``."""
    full = Reply(text=FULL, chunk_size=4, chunk_delay=0.01)
    ok = Reply(text="fine")
    cont = Continue(text=FULL, reply=Reply(chunk_size=4, chunk_delay=0.01))
    match n:
        case 1:
            first = [True]

            def once(_r: RecordedRequest) -> Behavior:
                if first[0]:
                    first[0] = False
                    return ErrorReply(429, retry_after=2)
                return ok

            return FunctionBehavior(once), ok
        case 2:
            return ErrorReply(429), ok
        case 3:
            state = [True]

            def one500(_r: RecordedRequest) -> Behavior:
                if state[0]:
                    state[0] = False
                    return ErrorReply(500)
                return ok

            return FunctionBehavior(one500), ok
        case 4:
            return ErrorReply(503), ok
        case 5:
            return Disconnect(), ok
        case 6:
            return Hang(), full
        case 7:
            return Reply(text=FULL, chunk_size=4, ttft=20), full
        case 8:
            return Disconnect(after_chunks=40, reply=full), cont
        case 9:
            return Stall(after_chunks=20, seconds=30, reply=full), cont
        case 10:
            return MalformedJSON(frame=10, reply=full), cont
        case 11:
            return Reply(text=FULL, chunk_size=4, chunk_delay=0.01, done=False), full
        case 12:
            return ErrorReply.context_length_exceeded(max_tokens=8192, requested=9000), ok
        case 13:
            return ErrorReply(400, message=FILTER_REASON, code="content_filter", type="invalid_request_error"), ok
        case 14:
            return Disconnect(after_chunks=40, reply=full), RejectContinuation(then=full)
        case 15:

            def outage(_r: RecordedRequest) -> Behavior:
                return ErrorReply(503) if time.monotonic() - started() < 60 else ok

            return FunctionBehavior(outage), ok
        case 16:
            usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
            return ErrorReply(503), Reply(text="fine", model="b-served", usage=usage)
    raise ValueError(n)


# -- what a call returned ----------------------------------------------------------------------


@dataclass
class Outcome:
    """One call's result as the caller saw it."""

    text: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    error: str | None = None


@dataclass
class Cell:
    scenario: int
    system: str
    grade: str
    seconds: float
    detail: str


# -- the clients -------------------------------------------------------------------------------


class System:
    """One client under test, for one cell (its own primary ``a`` and fallback ``b``)."""

    def __init__(self, kind: str, a_url: str, b_url: str, *, large_b: bool) -> None:
        self.kind = kind
        self.a_url, self.b_url = a_url, b_url
        self.large_b = large_b
        self._router: Any = None
        self._build()

    def _build(self) -> None:
        kind = self.kind
        if kind.startswith("polyroute"):
            import polyroute

            router: dict[str, Any] = {
                "provider": {"sort": "ordered"},
                "retry": {"max_retries": RETRIES},
                "timeout": {"read": READ_TIMEOUT},
            }
            if kind == "polyroute-rh":
                router["routing"] = {"hedge": {"delay": HEDGE_DELAY}}
            price = {"prompt": 1e-6, "completion": 2e-6}
            cfg = {
                "providers": {"a": {"base_url": self.a_url}, "b": {"base_url": self.b_url}},
                "models": {
                    "m": {
                        "endpoints": [
                            {"provider": "a", "model": "a-model", "pricing": price, "context_length": 8192},
                            {
                                "provider": "b",
                                "model": "b-model",
                                "pricing": price,
                                "context_length": 128000,
                                "continuation": "prefix",
                            },
                        ]
                    }
                },
                "router": router,
            }
            self._router = polyroute.Router.from_config(cfg, rng=random.Random(1))
        elif kind == "litellm":
            from benchmarks._clients import quiet_litellm

            litellm = quiet_litellm()

            def dep(name: str, url: str, model: str) -> dict[str, Any]:
                params = {"model": f"openai/{model}", "api_base": url, "api_key": "sk-sim"}
                params |= {"timeout": READ_TIMEOUT, "stream_timeout": READ_TIMEOUT}
                return {"model_name": name, "litellm_params": params}

            self._router = litellm.Router(
                model_list=[dep("primary", self.a_url, "a-model"), dep("fallback", self.b_url, "b-model")],
                fallbacks=[{"primary": ["fallback"]}],
                context_window_fallbacks=[{"primary": ["fallback"]}],
                num_retries=RETRIES,
                timeout=READ_TIMEOUT,
            )
        elif kind == "langchain":
            from langchain_openai import ChatOpenAI

            def chat(url: str, model: str) -> Any:
                return ChatOpenAI(
                    model=model,
                    base_url=url,
                    api_key="sk-sim",  # type: ignore[arg-type]
                    max_retries=RETRIES,
                    timeout=READ_TIMEOUT,
                    stream_usage=True,
                )

            self._router = chat(self.a_url, "a-model").with_fallbacks([chat(self.b_url, "b-model")])
        elif kind == "openai":
            import openai

            self._router = openai.OpenAI(
                base_url=self.a_url, api_key="sk-sim", max_retries=RETRIES, timeout=READ_TIMEOUT
            )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.kind.startswith("polyroute") or self.kind == "openai":
                self._router.close()

    def call(self, stream: bool) -> Outcome:
        try:
            return self._call(stream)
        except Exception as exc:  # the outcome under test
            cause = getattr(exc, "error", None)
            text = f"{type(exc).__name__}: {exc}"
            if cause is not None:
                text += f" [cause {type(cause).__name__}]"
            return Outcome(error=text[:300])

    def _call(self, stream: bool) -> Outcome:
        kind = self.kind
        if kind == "polyroute":
            r = self._router
            if not stream:
                resp = r.completion(model="m", messages=MESSAGES)
                return Outcome(resp.choices[0].message.content, resp.model, _tokens(resp.usage))
            parts, model = [], None
            for c in r.completion(model="m", messages=MESSAGES, stream=True):
                for ch in c.choices:
                    parts.append(ch.delta.content or "")
                model = c.model
            return Outcome("".join(parts), model)
        if kind == "polyroute-rh":
            return asyncio.run(self._acall(stream))
        if kind == "litellm":
            r = self._router
            if not stream:
                resp = r.completion(model="primary", messages=MESSAGES)
                return Outcome(resp.choices[0].message.content, resp.model, _tokens(resp.usage))
            parts, model = [], None
            for c in r.completion(model="primary", messages=MESSAGES, stream=True):
                for ch in c.choices:
                    parts.append(ch.delta.content or "")
                model = c.model
            return Outcome("".join(parts), model)
        if kind == "langchain":
            r = self._router
            if not stream:
                msg = r.invoke(MESSAGES)
                usage = msg.usage_metadata or {}
                return Outcome(str(msg.content), msg.response_metadata.get("model_name"), usage.get("input_tokens"))
            parts, model = [], None
            for c in r.stream(MESSAGES):
                parts.append(str(c.content))
                model = c.response_metadata.get("model_name") or model
            return Outcome("".join(parts), model)
        r = self._router  # openai
        if not stream:
            resp = r.chat.completions.create(model="a-model", messages=MESSAGES)
            return Outcome(resp.choices[0].message.content, resp.model, _tokens(resp.usage))
        parts, model = [], None
        for c in r.chat.completions.create(model="a-model", messages=MESSAGES, stream=True):
            for ch in c.choices:
                parts.append(ch.delta.content or "")
            model = c.model
        return Outcome("".join(parts), model)

    async def _acall(self, stream: bool) -> Outcome:
        async with self._router as r:
            if not stream:
                resp = await r.acompletion(model="m", messages=MESSAGES)
                return Outcome(resp.choices[0].message.content, resp.model, _tokens(resp.usage))
            parts, model = [], None
            async for c in await r.acompletion(model="m", messages=MESSAGES, stream=True):
                for ch in c.choices:
                    parts.append(ch.delta.content or "")
                model = c.model
            return Outcome("".join(parts), model)


def _tokens(usage: Any) -> int | None:
    return getattr(usage, "prompt_tokens", None) if usage is not None else None


# -- grading -----------------------------------------------------------------------------------


def grade(n: int, out: Outcome, seconds: float) -> tuple[str, str]:
    """(grade, detail) for one call's outcome in scenario ``n``."""
    limit = LIMIT.get(n, DEFAULT_LIMIT)
    if out.error is not None:
        if n == 13:
            ok = "safety system" in out.error
            return ("pass" if ok and seconds <= limit else "safe"), out.error[:90]
        if n == 14 and "final message must have role" in out.error:
            return "fail", "the fallback's rejection instead of the original cause"
        return "safe", out.error[:90]
    text = out.text or ""
    if n == 13:
        return "partial", "answered by the fallback (routed around the refusal)"
    if n in STREAMED and text != FULL:
        why = "duplicated" if len(text) > len(FULL) else "truncated"
        return "fail", f"{why} answer reported as complete ({len(text)} of {len(FULL)} characters)"
    if n == 16 and (out.model != "b-served" or out.prompt_tokens != 7):
        return "fail", f"model {out.model!r}, prompt_tokens {out.prompt_tokens!r}"
    return ("pass" if seconds <= limit else "partial"), f"answered by {out.model}"


def run_cell(n: int, kind: str, sim: ProviderSimulator, index: int) -> Cell:
    t0 = [time.monotonic()]
    a = sim.add_provider(f"c{index}-a")
    b = sim.add_provider(f"c{index}-b")
    pa, pb = script(n, lambda: t0[0])
    a.set_default(pa)
    b.set_default(pb)
    system = System(kind, a.base_url, b.base_url, large_b=n == 12)
    try:
        if n == 15:
            return _recovery(kind, system, t0)
        t0[0] = time.monotonic()
        out = system.call(n in STREAMED)
        seconds = time.monotonic() - t0[0]
        g, detail = grade(n, out, seconds)
        return Cell(n, kind, g, seconds, detail)
    finally:
        system.close()


def _recovery(kind: str, system: System, t0: list[float]) -> Cell:
    """Scenario 15: a request every 4 s for 100 s; when does the primary get traffic back?"""
    t0[0] = time.monotonic()
    back: float | None = None
    errors = 0
    for i in range(25):
        wait = t0[0] + i * 4.0 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        out = system.call(False)
        if out.error is not None:
            errors += 1
        elif out.model == "a-model" and i * 4.0 >= 60 and back is None:
            back = i * 4.0
    seconds = time.monotonic() - t0[0]
    if errors:
        return Cell(15, kind, "safe", seconds, f"{errors} of 25 requests failed")
    if back is None:
        return Cell(15, kind, "partial", seconds, "the primary got no traffic back within 96 s")
    g = "pass" if back <= LIMIT[15] else "partial"
    return Cell(15, kind, g, back, f"primary back at {back:.0f} s (recovered at 60 s)")


# -- running and reporting -----------------------------------------------------------------------


def available(kind: str) -> str | None:
    """Why ``kind`` cannot run here, or ``None``."""
    module = {"litellm": "litellm", "langchain": "langchain_openai", "openai": "openai"}.get(kind)
    if module is None:
        return None
    try:
        __import__(module)
    except ImportError:
        return f"{module} is not installed"
    return None


def warm_up(sim: ProviderSimulator, systems: Iterable[str]) -> None:
    """One plain and one streamed call per client first: imports and first-use costs are not
    fault handling."""
    for i, kind in enumerate(systems):
        a, b = sim.add_provider(f"warm{i}-a"), sim.add_provider(f"warm{i}-b")
        a.set_default(Reply(text="warm"))
        system = System(kind, a.base_url, b.base_url, large_b=False)
        try:
            system.call(False)
            system.call(True)
        finally:
            system.close()


#: scenarios that wait on long timeouts or stalls: run at once, in the background
LONG = {6, 7, 9, 15}


def run(scenarios: Iterable[int], systems: Iterable[str]) -> list[Cell]:
    """Every cell: the long ones at once in background threads, the short ones one after another
    (so that their few seconds are not measured under the others' load)."""
    logging.disable(logging.CRITICAL)
    cells: list[Cell] = []
    lock = threading.Lock()
    systems = list(systems)
    jobs = [(n, k) for n in scenarios for k in systems]

    def work(n: int, k: str, i: int, sim: ProviderSimulator) -> None:
        started = time.monotonic()
        try:
            cell = run_cell(n, k, sim, i)
        except Exception as exc:
            cell = Cell(n, k, "fail", time.monotonic() - started, f"harness error {exc!r}"[:90])
        with lock:
            cells.append(cell)

    with ProviderSimulator() as sim:
        warm_up(sim, systems)
        threads = []
        for i, (n, k) in enumerate(jobs):
            if n in LONG:
                t = threading.Thread(target=work, args=(n, k, i, sim), daemon=True)
                threads.append((n, k, t, time.monotonic()))
                t.start()
        for i, (n, k) in enumerate(jobs):
            if n not in LONG:
                t = threading.Thread(target=work, args=(n, k, i, sim), daemon=True)
                t.start()
                t.join(CELL_BOX)
                if t.is_alive():
                    with lock:
                        cells.append(Cell(n, k, "fail", CELL_BOX, "no outcome (hang)"))
        for n, k, t, started in threads:
            t.join(max(0.0, started + CELL_BOX - time.monotonic()))
            if t.is_alive():
                with lock:
                    cells.append(Cell(n, k, "fail", CELL_BOX, "no outcome (hang)"))
    return sorted(cells, key=lambda c: (c.scenario, list(SYSTEMS).index(c.system)))


def in_processes(scenarios: list[int], systems: list[str]) -> list[Cell]:
    """Each client's cells in a process of its own (one client's CPU use, and its interpreter
    lock, do not slow another's), all at once."""
    only = ",".join(str(n) for n in scenarios)
    procs = {
        kind: subprocess.Popen(
            [sys.executable, "-m", "benchmarks.faults", "--worker", kind, "--only", only],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for kind in systems
    }
    cells: list[Cell] = []
    for kind, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=CELL_BOX * 4)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            cells += [Cell(n, kind, "fail", CELL_BOX, "no outcome (the worker hung)") for n in scenarios]
            continue
        lines = [line for line in out.splitlines() if line.startswith("[")]
        if proc.returncode != 0 or not lines:
            cells += [Cell(n, kind, "fail", 0.0, f"harness error (worker exit {proc.returncode})") for n in scenarios]
            continue
        cells += [Cell(**c) for c in json.loads(lines[-1])]
    return sorted(cells, key=lambda c: (c.scenario, list(SYSTEMS).index(c.system)))


def render(cells: list[Cell], systems: list[str], meta: dict[str, Any]) -> str:
    by = {(c.scenario, c.system): c for c in cells}
    scenarios = sorted({c.scenario for c in cells})
    lines = [
        "# Fault matrix",
        "",
        "Sixteen ways a provider fails, each against a primary and one fallback, for five clients. Written",
        f"by `python -m benchmarks.faults` ({meta['date']}, {meta['wall_s']:.0f} s wall in all).",
        "",
        "How it runs: one process per client, all at once, each with a `polyroute.testing.ProviderSimulator`",
        "on 127.0.0.1 and, per cell, its own primary and fallback; in each process the long cells (6, 7, 9,",
        "15) run at once in the background and the others one after another, in **real time, unscaled**",
        "(the compared clients wait on the real clock, so simulated time cannot be used for them; a 30 s",
        "timeout takes 30 s).",
        f"Every client gets the scenario's settings: up to {RETRIES} retries and a {READ_TIMEOUT:.0f} s read timeout;",
        "the fallback serves the same model with a larger context (8,192 vs 128,000 tokens). polyroute tries",
        "the two in order (`sort: ordered`, like the others' fallback chains) and the fallback endpoint",
        "declares `continuation: prefix` (what a DeepSeek or Mistral endpoint would declare); everything",
        f"else is polyroute's defaults, plus `hedge: {{delay: {HEDGE_DELAY:.0f}}}` (async) in the second column.",
        "LiteLLM Router has `fallbacks` and `context_window_fallbacks`; LangChain is",
        "`ChatOpenAI(...).with_fallbacks([ChatOpenAI(...)])`; the openai client knows only the primary.",
        "Scenarios 6-11 and 14 stream; the others do not.",
        "",
        "Grades: **pass** (the correct outcome, in time), **partial** (correct but slow, or routed around a",
        "refusal), **safe** (a clean typed error where an answer was possible), **fail** (a wrong or silent",
        "outcome — a truncated or duplicated answer reported as complete, the wrong cause — or a hang).",
        f"In time: within {DEFAULT_LIMIT:.0f} s, except 6 (one read timeout: {LIMIT[6]:.0f} s), 7 (before the slow",
        f"token: {LIMIT[7]:.0f} s), 9 (before the stall ends: {LIMIT[9]:.0f} s) and 15 (the primary back within one",
        "30 s cooldown of its recovery at 60 s; the time shown is when it got traffic back). The time is",
        "the call's wall time.",
        "",
        "| # | scenario | " + " | ".join(SYSTEMS[s] for s in systems) + " |",
        "|---|---|" + "---|" * len(systems),
    ]
    for n in scenarios:
        row = [str(n), SCENARIOS[n]]
        for s in systems:
            c = by.get((n, s))
            row.append("-" if c is None else f"**{c.grade}** {c.seconds:.1f} s")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "| | " + " | ".join(SYSTEMS[s] for s in systems) + " |", "|---|" + "---|" * len(systems)]
    for g in ("pass", "partial", "safe", "fail"):
        counts = [sum(1 for c in cells if c.system == s and c.grade == g) for s in systems]
        lines.append(f"| {g} | " + " | ".join(str(x) for x in counts) + " |")
    lines += ["", "## Details", "", "| # | client | grade | what happened |", "|---|---|---|---|"]
    for c in cells:
        detail = c.detail.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {c.scenario} | {SYSTEMS[c.system]} | {c.grade} | {detail} |")
    if meta.get("skipped"):
        lines += ["", "Not run: " + "; ".join(f"{k} ({v})" for k, v in meta["skipped"].items()) + "."]
    lines += [
        "",
        "How polyroute handles each case is explained in [Failover](failover.md) and [Streaming](streaming.md).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated scenario numbers (default: all 16)")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {','.join(SYSTEMS)}")
    ap.add_argument("--no-page", action="store_true", help="print the table, do not write the docs page")
    ap.add_argument("--worker", help=argparse.SUPPRESS)  # run one client's cells, print them as JSON
    args = ap.parse_args(argv)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetching of LiteLLM's price map
    scenarios = [int(x) for x in args.only.split(",") if x.strip()] or list(SCENARIOS)
    if args.worker:
        print(json.dumps([asdict(c) for c in run(scenarios, [args.worker])]))
        return 0
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    skipped = {s: why for s in wanted if (why := available(s)) is not None}
    systems = [s for s in wanted if s not in skipped]
    started = time.monotonic()
    cells = in_processes(scenarios, systems)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "wall_s": time.monotonic() - started,
        "skipped": skipped,
    }
    page = render(cells, systems, meta)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"meta": meta, "cells": [asdict(c) for c in cells]}, indent=1))
    if not args.no_page:
        PAGE.write_text(page, encoding="utf-8")
    print(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
