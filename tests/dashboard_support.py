"""A ledger filled by real routed calls, and a running app with the dashboard, for the dashboard tests.

The calls go through a :class:`polyroute.Router` to the loopback simulator over five UTC days
(a fake clock: no sleeping), with a failover, a provider that keeps failing (its breaker opens)
and three caller keys, two of them gateway keys in the key store. Rows land in an SQLite ledger;
the gateway application (``polyroute.gateway.create_app``) serves the dashboard over them.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

import polyroute
from polyroute.gateway import GatewaySettings, KeyStore, create_app
from polyroute.ledger import SQLiteLedger
from polyroute.testing import ErrorReply, FakeClock, ProviderSimulator, Reply

ADMIN_KEY = "admin-secret-for-tests"
START = datetime(2026, 3, 6, 9, 0, tzinfo=UTC).timestamp()
USERS = ["alice", "bob", "carol"]
#: a caller key the gateway's key store does not know (a library caller's): shown by fingerprint
UNKNOWN_KEY = "sk-unnamed-library-caller"


@dataclass
class Scenario:
    """The router (its ledger filled), the key store, and the secrets of the keys in it."""

    router: polyroute.Router
    keys: KeyStore
    secrets: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        """The gateway application over this router and key store, with the dashboard."""
        return create_app(self.router, keys=self.keys, settings=GatewaySettings(admin_key=ADMIN_KEY))


def _config(sim: ProviderSimulator) -> dict[str, Any]:
    providers = {}
    for name in ("groq", "openai", "azure", "mistral"):
        p = sim.add_provider(name)
        providers[name] = {"api": p.api, "base_url": p.base_url}

    def ep(provider: str, model: str, prompt: str, completion: str) -> dict[str, Any]:
        return {"provider": provider, "model": model, "pricing": {"prompt": prompt, "completion": completion}}

    return {
        "providers": providers,
        "models": {
            "llama-3.3-70b": {"endpoints": [ep("groq", "llama-3.3-70b-versatile", "5.9e-7", "7.9e-7")]},
            "gpt-4o": {
                "endpoints": [
                    ep("openai", "gpt-4o", "2.5e-6", "1e-5"),
                    ep("azure", "gpt-4o-2024-08-06", "2.5e-6", "1e-5"),
                ]
            },
            "mistral-large": {"endpoints": [ep("mistral", "mistral-large-latest", "2e-6", "6e-6")]},
        },
        "router": {"provider": {"sort": "ordered"}, "retry": {"max_retries": 0}},
    }


@contextmanager
def populated(tmp_path: Path) -> Iterator[Scenario]:
    """A router over the simulator with an SQLite ledger holding five days of calls."""
    clock = FakeClock(start=START)
    rng = random.Random(16)
    keys = KeyStore.memory(now=clock.time)
    research_secret, research = keys.create("research", limit=25, limit_reset="monthly")
    support_secret, support = keys.create("support")
    # what the gateway records as a call's caller_key: the key's id (the ledger keeps its fingerprint)
    callers = [research.hash, support.hash, UNKNOWN_KEY]
    with ProviderSimulator(clock=clock) as sim:
        cfg = _config(sim)
        groq, openai, azure, mistral = (sim.provider(n) for n in ("groq", "openai", "azure", "mistral"))
        ledger = SQLiteLedger(tmp_path / "usage.db")
        router = polyroute.Router.from_config(cfg, clock=clock, rng=random.Random(1), ledger=ledger)
        try:
            for day in range(5):
                day_start = clock.time()
                for i in range(6 + 3 * day):
                    model = ["llama-3.3-70b", "gpt-4o", "llama-3.3-70b", "mistral-large"][i % 4]
                    prompt, completion = rng.randint(40, 900), rng.randint(20, 600)
                    reply = Reply(
                        text="ok",
                        usage={"prompt_tokens": prompt, "completion_tokens": completion},
                        ttft=rng.uniform(0.15, 0.6),
                        latency=rng.uniform(0.4, 2.5),
                    )
                    if model == "gpt-4o" and i % 3 == 1:
                        openai.enqueue(ErrorReply(503))  # fails over to azure
                        azure.enqueue(reply)
                    else:
                        for p in (groq, openai, mistral):
                            p.set_default(reply)
                    if model == "mistral-large" and day == 4:
                        mistral.enqueue(ErrorReply(500))  # three in a row open its breaker
                    try:
                        call = router.completion(
                            model=model,
                            messages=[{"role": "user", "content": f"call {day}/{i}"}],
                            user=USERS[i % 3],
                            caller_key=callers[i % 3],
                            stream=i % 2 == 0,
                        )
                        if i % 2 == 0:
                            for _ in call:
                                pass
                    except polyroute.errors.PolyrouteError:
                        pass
                    clock.advance(40.0)
                if day < 4:  # the last day is today: its calls are in the live statistics
                    clock.advance(86400 - (clock.time() - day_start))
            assert ledger.flush(10.0)
            yield Scenario(router=router, keys=keys, secrets=[research_secret, support_secret])
        finally:
            router.close()
            ledger.close()
            keys.close()


@contextmanager
def serving(app: web.Application) -> Iterator[str]:
    """``app`` served on an ephemeral loopback port in a thread of its own; yields its base URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    started = threading.Event()
    port: list[int] = []

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port.append(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="dashboard-test-server", daemon=True)
    thread.start()
    assert started.wait(30), "the test server did not start"
    try:
        yield f"http://127.0.0.1:{port[0]}/"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
