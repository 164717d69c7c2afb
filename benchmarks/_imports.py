"""Import time and RSS after import, each in a fresh interpreter pinned to the client CPU.

Bytecode caches are warm (one discarded import first, with bytecode writing allowed), as after
``pip install``; the OS file cache is warm too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks._stats import spread

__all__ = ["TARGETS", "measure_imports"]

_SNIPPET = """
import json, time
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
base = rss()
t0 = time.perf_counter()
c0 = time.process_time()
{code}
seconds = time.perf_counter() - t0
cpu = time.process_time() - c0
print("@@" + json.dumps({{"seconds": seconds, "cpu_seconds": cpu, "rss_mb": rss(), "base_rss_mb": base}}))
"""

_POLYROUTE_READY = """
import polyroute
router = polyroute.Router.from_config({"providers": {"p": {"base_url": "http://127.0.0.1:9/v1"}},
    "models": {"m": {"endpoints": [{"provider": "p", "model": "m"}]}}})
import polyroute.transports._aiohttp
"""

_LITELLM_READY = """
import litellm
router = litellm.Router(model_list=[{"model_name": "m", "litellm_params": {"model": "openai/m",
    "api_base": "http://127.0.0.1:9/v1", "api_key": "k"}}])
"""

#: label -> (code to time, rounds factor: litellm's 4 s imports get fewer rounds)
TARGETS: dict[str, tuple[str, bool]] = {
    "python (nothing)": ("pass", False),
    "import polyroute": ("import polyroute", False),
    "polyroute ready (Router.from_config + aiohttp)": (_POLYROUTE_READY, False),
    "import aiohttp": ("import aiohttp", False),
    "import openai": ("import openai", False),
    "import litellm": ("import litellm", True),
    "litellm ready (litellm.Router built)": (_LITELLM_READY, True),
}


def _once(code: str, cwd: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    proc = subprocess.run(
        [sys.executable, "-c", _SNIPPET.format(code=code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("@@"):
            out: dict[str, Any] = json.loads(line[2:])
            return out
    raise RuntimeError(f"import measurement failed: {proc.stderr[-2000:]}")


def measure_imports(rounds: int, slow_rounds: int, cwd: Path, *, with_litellm: bool) -> dict[str, Any]:
    """Per target: seconds and RSS (MB) over rounds, plus the raw samples."""
    results: dict[str, Any] = {}
    for label, (code, slow) in TARGETS.items():
        if slow and not with_litellm:
            continue
        if not slow:  # LiteLLM's bytecode was written by pip; its 4 s import needs no warm-up run
            _once(code, cwd)  # warm bytecode and file caches
        samples = [_once(code, cwd) for _ in range(slow_rounds if slow else rounds)]
        results[label] = {
            "seconds": spread([s["seconds"] for s in samples]).to_json(),
            "cpu_seconds": spread([s["cpu_seconds"] for s in samples]).to_json(),
            "rss_mb": spread([s["rss_mb"] for s in samples]).to_json(),
            "samples": samples,
        }
    return results
