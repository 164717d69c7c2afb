"""A router in a process of its own, for the shared-state tests (``python -m tests.redis_worker``).

Reads a config (JSON) from argv[1], prints ``ready``, then answers one JSON command per stdin
line with one JSON line: ``{"op": "call", "n": 3, "concurrency": 1, "start_at": WALL, "for": SECONDS,
"params": {...}}`` makes calls (``start_at``: not before that Unix time; ``for``: keep calling until
that many seconds have passed) and answers the list of outcomes (``served_by`` provider or the
error's type, with the providers tried); ``{"op": "stats"}`` answers the state status.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import polyroute

USER = [{"role": "user", "content": "hello there"}]


async def _one(router: polyroute.Router, params: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    try:
        resp = await router.acompletion(model="m", messages=USER, **params)
    except polyroute.PolyrouteError as exc:
        tried = [a.provider for a in exc.attempts if a.outcome != "skipped"]
        return {"error": type(exc).__name__, "tried": tried, "seconds": time.monotonic() - started}
    tried = [a.provider for a in resp.route.attempts if a.outcome != "skipped"]
    cost = str(resp.route.cost) if resp.route.cost is not None else None
    return {"served_by": resp.route.provider, "tried": tried, "cost": cost, "seconds": time.monotonic() - started}


async def _calls(router: polyroute.Router, cmd: dict[str, Any]) -> list[dict[str, Any]]:
    start_at = cmd.get("start_at")
    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
    params = cmd.get("params") or {}
    out: list[dict[str, Any]] = []
    until = time.monotonic() + float(cmd.get("for", 0))
    while True:
        batch = await asyncio.gather(*(_one(router, params) for _ in range(int(cmd.get("concurrency", 1)))))
        out.extend(batch)
        if len(out) >= int(cmd.get("n", 1)) and time.monotonic() >= until:
            return out
        if len(out) > 1000:
            return out


async def main() -> None:
    router = polyroute.Router.from_config(json.loads(sys.argv[1]))
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            cmd = json.loads(line)
            if cmd["op"] == "call":
                result: Any = await _calls(router, cmd)
            elif cmd["op"] == "stats":
                result = router.stats().state.model_dump()
            else:
                return
            print(json.dumps(result), flush=True)
    finally:
        await router.aclose()


if __name__ == "__main__":
    asyncio.run(main())
