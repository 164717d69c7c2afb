"""A gateway over the provider simulator, served from a thread, for the gateway tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polyroute
from polyroute.gateway import GatewaySettings, GatewayThread, KeyStore, create_app
from polyroute.testing import ProviderSimulator

ADMIN = "admin-test-key"
PRICES = {"prompt": "0.000001", "completion": "0.000002"}


@dataclass
class Gateway:
    url: str
    keys: KeyStore
    router: polyroute.Router
    sim: ProviderSimulator
    ledger_path: Path

    def key(self, name: str = "alice", **settings: Any) -> str:
        secret, _ = self.keys.create(name, **settings)
        return secret


def config(sim: ProviderSimulator, ledger: Path, *, providers: tuple[str, ...] = ("a", "b")) -> dict[str, Any]:
    return {
        "providers": {p: {"api": "openai", "base_url": sim.ensure_provider(p).base_url} for p in providers},
        "models": {
            "m": {"endpoints": [{"provider": p, "model": f"{p}-model", "pricing": dict(PRICES)} for p in providers]},
            "solo": {"endpoints": [{"provider": providers[0], "model": "solo-model", "pricing": dict(PRICES)}]},
        },
        "router": {"provider": {"sort": "ordered"}},
        "ledger": {"url": str(ledger)},
    }


@contextmanager
def running_gateway(sim: ProviderSimulator, tmp_path: Path, **settings: Any) -> Iterator[Gateway]:
    """A gateway (keys required, admin key ``ADMIN``) over ``sim`` with an SQLite ledger in ``tmp_path``."""
    ledger = tmp_path / "usage.db"
    router = polyroute.Router.from_config(config(sim, ledger), rng=random.Random(7))
    keys = KeyStore.open(router.catalog.settings.ledger)
    app = create_app(router, keys=keys, settings=GatewaySettings(admin_key=ADMIN, **settings), close_router=True)
    with GatewayThread(app) as thread:
        yield Gateway(thread.url, keys, router, sim, ledger)
