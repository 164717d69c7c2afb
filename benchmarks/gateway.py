"""The gateway benchmark: ``polyroute serve`` beside the real LiteLLM proxy, on the same upstream.

    python -m benchmarks.gateway            # about 5 minutes on 2 cores
    python -m benchmarks.gateway --quick    # about 1.5 minutes
    python -m benchmarks.gateway --no-litellm
    python -m benchmarks.gateway --no-limit  # without the run whose key has a credit limit

Three HTTP hops are compared, each measured by the same aiohttp client: the upstream called
directly (the loopback benchmark server, ``_server.py``), ``polyroute serve`` (one worker, a
gateway key, its SQLite ledger on; then again with a key that has a credit limit) in front of it,
and the LiteLLM proxy (one worker, no
database, an ``openai/`` deployment) in front of it. On 2 cores the gateway under test is pinned
alone to core 1; the client and the upstream share core 0. Figures: added latency at
concurrency 1 (p50 and p99 of the gateway minus those of the direct call, per round), throughput
at concurrency 50 (requests per second of the one worker), and the worker's RSS after the load.
Results go to ``benchmarks/results/gateway-*.json`` and to a section of ``docs/benchmarks.md``
that ``python -m benchmarks`` keeps.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks._control import start_server
from benchmarks._gateway_report import write_section
from benchmarks._stats import percentile, spread

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
CLIENT_CPU, GATEWAY_CPU = 0, 1
MESSAGES = [{"role": "user", "content": "Say hello."}]
BODY = json.dumps({"model": "bench", "messages": MESSAGES, "max_tokens": 16}).encode()


@dataclass(frozen=True)
class Settings:
    latency_requests: int
    latency_rounds: int
    throughput_seconds: float
    throughput_rounds: int
    warmup: int
    latency_seconds: float
    cpu_requests: int


FULL = Settings(
    latency_requests=2000,
    latency_rounds=3,
    throughput_seconds=8.0,
    throughput_rounds=3,
    warmup=300,
    latency_seconds=20.0,
    cpu_requests=300,
)
QUICK = Settings(
    latency_requests=500,
    latency_rounds=2,
    throughput_seconds=3.0,
    throughput_rounds=1,
    warmup=100,
    latency_seconds=8.0,
    cpu_requests=100,
)


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _pin(pid: int, cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(pid, {cpu})


def _rss_mb(pid: int) -> tuple[float, float]:
    """RSS of ``pid`` and of ``pid`` with all its descendants, in MB."""

    def one(p: int) -> float:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def children(p: int) -> list[int]:
        out: list[int] = []
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                text = (task / "children").read_text().split()
                out += [int(c) for c in text]
        return out

    total, stack, seen = 0.0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        total += one(p)
        stack += children(p)
    return one(pid), total


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds used so far by ``pid`` and its live children."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text().split()]
    for p in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 240.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(0.25)
    raise RuntimeError(f"{url} not ready within {timeout:.0f}s:\n{log.read_text()[-3000:]}")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _process(command: list[str], env: dict[str, str], log: Path, ready_url: str, cwd: Path) -> Iterator[int]:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
    _pin(proc.pid, GATEWAY_CPU)  # before it imports anything: its threads and children inherit it
    try:
        _wait_ready(proc, ready_url, log)
        yield proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextlib.contextmanager
def polyroute_gateway(upstream: str, workdir: Path, limit: str | None = None) -> Iterator[tuple[str, str, int]]:
    """``polyroute serve`` on a free port: (base URL, key, pid); the key has a credit limit of
    ``limit`` USD when given (each call then reserves and settles it in the ledger's database)."""
    cfg = {
        "providers": {"alpha": {"api": "openai", "base_url": upstream}},
        "models": {
            "bench": {
                "endpoints": [
                    {"provider": "alpha", "model": "alpha-model", "pricing": {"prompt": "1e-6", "completion": "2e-6"}}
                ]
            }
        },
        "ledger": {"url": str(workdir / "usage.db")},
    }
    path = workdir / "polyroute.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "POLYROUTE_DATA_DIR": str(workdir)}
    polyroute = [sys.executable, "-m", "polyroute"]
    key = subprocess.run(
        [*polyroute, "keys", "create", "bench", "-c", str(path), *(["--limit", limit] if limit else [])],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.strip()
    port = _free_port()
    command = [*polyroute, "serve", "-c", str(path), "--port", str(port), "--no-login"]
    base = f"http://127.0.0.1:{port}"
    with _process(command, env, workdir / "polyroute.log", base + "/healthz", workdir) as pid:
        yield base + "/v1", key, pid


@contextlib.contextmanager
def litellm_proxy(upstream: str, workdir: Path) -> Iterator[tuple[str, str, int]]:
    """The LiteLLM proxy (one worker, no database) on a free port: (base URL, key, pid)."""
    cfg = {
        "model_list": [
            {
                "model_name": "bench",
                "litellm_params": {
                    "model": "openai/alpha-model",
                    "api_base": upstream,
                    "api_key": "sk-bench",
                    "max_retries": 0,
                },
            }
        ],
        "litellm_settings": {"telemetry": False, "drop_params": True},
    }
    path = workdir / "litellm.yaml"
    path.write_text(yaml.safe_dump(cfg))
    key = "sk-bench-master"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env |= {"LITELLM_MASTER_KEY": key, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    port = _free_port()
    command = [
        str(Path(sys.executable).with_name("litellm")),
        "--config",
        str(path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    base = f"http://127.0.0.1:{port}"
    with _process(command, env, workdir / "litellm.log", base + "/health/liveliness", workdir) as pid:
        yield base + "/v1", key, pid


async def _session(concurrency: int) -> Any:
    import aiohttp

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency, force_close=False))


async def _one(session: Any, url: str, headers: dict[str, str]) -> bool:
    async with session.post(url, data=BODY, headers=headers) as resp:
        await resp.read()
        return bool(resp.status == 200)


async def latency(base: str, key: str, n: int, warmup: int, seconds: float = 25.0) -> dict[str, Any]:
    """``n`` sequential calls (fewer if ``seconds`` pass first): p50 and p99 in ms, errors."""
    url, headers = base + "/chat/completions", {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    session = await _session(1)
    async with session:
        stop = time.perf_counter() + seconds / 5
        for _ in range(warmup):
            await _one(session, url, headers)
            if time.perf_counter() > stop:
                break
        times, errors = [], 0
        stop = time.perf_counter() + seconds
        for _ in range(n):
            if time.perf_counter() > stop:
                break
            t0 = time.perf_counter()
            ok = await _one(session, url, headers)
            times.append((time.perf_counter() - t0) * 1000)
            errors += not ok
    times.sort()
    return {"p50": percentile(times, 50), "p99": percentile(times, 99), "errors": errors, "n": len(times)}


async def throughput(base: str, key: str, seconds: float, concurrency: int = 50) -> dict[str, Any]:
    """``concurrency`` callers for ``seconds``: requests per second, errors."""
    url, headers = base + "/chat/completions", {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    session = await _session(concurrency)
    done = errors = 0
    async with session:
        for _ in range(concurrency):  # open the connections
            await _one(session, url, headers)
        deadline = time.perf_counter() + seconds

        async def caller() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                ok = await _one(session, url, headers)
                done += 1
                errors += not ok

        t0 = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {"rps": done / elapsed, "requests": done, "errors": errors}


def _measure(name: str, base: str, key: str, pid: int | None, s: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {"latency": [], "throughput": []}
    for r in range(s.latency_rounds):
        row = asyncio.run(latency(base, key, s.latency_requests, s.warmup, s.latency_seconds))
        if pid is not None:  # the gateway's CPU time per call, over a separate fixed count of calls
            cpu0 = _cpu_s(pid)
            calls = asyncio.run(latency(base, key, s.cpu_requests, 0, s.latency_seconds))["n"]
            row["cpu_us"] = (_cpu_s(pid) - cpu0) * 1e6 / max(calls, 1)
        out["latency"].append(row)
        _say(f"{name}: latency round {r + 1}: {row}")
    for r in range(s.throughput_rounds):
        out["throughput"].append(asyncio.run(throughput(base, key, s.throughput_seconds)))
        _say(f"{name}: throughput round {r + 1}: {out['throughput'][-1]['rps']:.0f} req/s")
    if pid is not None:
        out["rss_mb"], out["rss_tree_mb"] = _rss_mb(pid)
    return out


def _summary(res: dict[str, Any]) -> dict[str, Any]:
    direct = res["targets"]["direct"]
    out: dict[str, Any] = {}
    for name, data in res["targets"].items():
        row: dict[str, Any] = {
            "p50_ms": spread([r["p50"] for r in data["latency"]]).to_json(),
            "p99_ms": spread([r["p99"] for r in data["latency"]]).to_json(),
            "rps": spread([r["rps"] for r in data["throughput"]]).to_json(),
            "errors": sum(r["errors"] for r in data["latency"]) + sum(r["errors"] for r in data["throughput"]),
        }
        if name != "direct":
            pairs = list(zip(data["latency"], direct["latency"], strict=False))
            row["added_p50_ms"] = spread([a["p50"] - d["p50"] for a, d in pairs]).to_json()
            row["added_p99_ms"] = spread([a["p99"] - d["p99"] for a, d in pairs]).to_json()
            row["cpu_us_per_request"] = spread([r.get("cpu_us", float("nan")) for r in data["latency"]]).to_json()
            row["rss_mb"] = data.get("rss_mb")
            row["rss_tree_mb"] = data.get("rss_tree_mb")
        out[name] = row
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    s = QUICK if args.quick else FULL
    res: dict[str, Any] = {
        "meta": {
            "command": "python -m benchmarks.gateway" + "".join(f" {a}" for a in args.argv),
            "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "loadavg_start": os.getloadavg(),
        },
        "targets": {},
    }
    server_proc, server = start_server(["alpha"], cpu=CLIENT_CPU, ttl=3600, log=RESULTS / "gateway-server.log")
    try:
        upstream = server.base_url("alpha")
        res["targets"]["direct"] = _measure("direct", upstream, "sk-bench", None, s)
        with tempfile.TemporaryDirectory(prefix="polyroute-gw-bench-") as tmp:
            plain, limited = Path(tmp) / "plain", Path(tmp) / "limited"
            plain.mkdir()
            limited.mkdir()
            with polyroute_gateway(upstream, plain) as (base, key, pid):
                _say(f"polyroute serve ready (pid {pid}, RSS {_rss_mb(pid)[0]:.1f} MB)")
                res["targets"]["polyroute"] = _measure("polyroute", base, key, pid, s)
                res["targets"]["direct-again"] = _measure("direct (again)", upstream, "sk-bench", None, s)
            if not args.no_limit:
                with polyroute_gateway(upstream, limited, limit="1000000") as (base, key, pid):
                    _say(f"polyroute serve, key with a credit limit, ready (pid {pid})")
                    res["targets"]["polyroute-limit"] = _measure("polyroute (credit limit)", base, key, pid, s)
            if not args.no_litellm:
                with litellm_proxy(upstream, Path(tmp)) as (base, key, pid):
                    _say(f"LiteLLM proxy ready (pid {pid}, RSS {_rss_mb(pid)[0]:.1f} MB)")
                    res["targets"]["litellm"] = _measure("LiteLLM proxy", base, key, pid, s)
    finally:
        with contextlib.suppress(Exception):
            server.command({"op": "shutdown"})
        server.close()
        with contextlib.suppress(Exception):
            server_proc.wait(timeout=10)
    res["meta"]["loadavg_end"] = os.getloadavg()
    res["summary"] = _summary(res)
    return res


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.gateway", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-litellm", action="store_true")
    ap.add_argument("--no-limit", action="store_true", help="skip the run with a credit-limited key")
    ap.add_argument("--doc", type=Path, default=DOC)
    ap.add_argument("--render", type=Path, help="only rewrite the section from a saved results JSON")
    args = ap.parse_args(argv)
    args.argv = argv
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {CLIENT_CPU})
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.render:
        res = json.loads(args.render.read_text(encoding="utf-8"))
    else:
        res = run(args)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"gateway-{stamp}.json"
        path.write_text(json.dumps(res, indent=1), encoding="utf-8")
        _say(f"results: {path}")
    write_section(args.doc, res)
    _say(f"wrote the gateway section of {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
