"""Shared state on Redis, with several real processes (``tests/redis_worker.py``) routing to the
simulator: breakers, the half-open probe, budgets, sticky sessions and rate limits hold across
processes, and a Redis outage leaves every call served or failed cleanly.

Needs POLYROUTE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0); each test uses a key prefix of
its own and deletes its keys afterwards.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import USER, config_for, endpoint

import polyroute
from polyroute import errors
from polyroute.testing import ErrorReply, ProviderSimulator, Reply

pytestmark = pytest.mark.redis

REDIS_URL_ENV = "POLYROUTE_TEST_REDIS_URL"
ROOT = Path(__file__).resolve().parent.parent
PRICED = {"prompt": "0", "completion": "0.0001"}
TEN_TOKENS = Reply(text="ten tokens", usage={"prompt_tokens": 5, "completion_tokens": 10})


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        pytest.skip(f"no Redis configured: set {REDIS_URL_ENV} (e.g. redis://127.0.0.1:6379/0)")
    return url


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own (runs never collide); its keys are deleted afterwards."""
    import redis

    name = f"polyroute-test-{secrets.token_hex(6)}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def state(url: str, prefix: str, **extra: Any) -> dict[str, Any]:
    # a generous timeout: on a loaded CI machine a fail-open fallback would be correct behaviour,
    # but not what these tests are about
    return {"backend": "redis", "url": url, "prefix": prefix, "timeout": 5.0, "sync_interval": 0.2, **extra}


class Worker:
    """A router in another process, driven by JSON lines."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.redis_worker", json.dumps(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def line(self, timeout: float = 180.0) -> str:
        return self.lines.get(timeout=timeout)

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def result(self, timeout: float = 180.0) -> Any:
        return json.loads(self.line(timeout))

    def close(self) -> None:
        try:
            self.send(op="quit")
            self.proc.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=15)


@pytest.fixture
def workers() -> Iterator[Any]:
    made: list[Worker] = []

    def start(cfg: dict[str, Any], n: int) -> list[Worker]:
        ws = [Worker(cfg) for _ in range(n)]
        made.extend(ws)
        for w in ws:
            assert w.line() == "ready"
        return ws

    yield start
    for w in made:
        w.close()


def test_one_process_sees_a_failure_and_the_others_stop_sending(
    sim: ProviderSimulator, redis_url: str, prefix: str, workers: Any
) -> None:
    router = {
        "state": state(redis_url, prefix),
        "provider": {"sort": "ordered"},
        "retry": {"max_retries": 0},
        "breaker": {"failure_threshold": 1, "cooldown": 60},
    }
    cfg = config_for(sim, {"m": [endpoint("a"), endpoint("b")]}, router=router)
    ws = workers(cfg, 4)
    sim.provider("a").set_default(ErrorReply(500))
    ws[0].send(op="call", n=1)
    [first] = ws[0].result()
    assert first["tried"] == ["a", "b"]  # it saw a fail, and its breaker opened
    for w in ws[1:]:
        w.send(op="call", n=3)
    for w in ws[1:]:
        outcomes = w.result()
        assert all(o["served_by"] == "b" for o in outcomes)
        # within one request each: at most the first call may still have tried a
        assert all("a" not in o["tried"] for o in outcomes[1:])
    assert len(sim.provider("a").requests) <= 1 + 3


def test_exactly_one_process_probes_a_half_open_endpoint(
    sim: ProviderSimulator, redis_url: str, prefix: str, workers: Any
) -> None:
    cooldown = 1.5
    router = {
        "state": state(redis_url, prefix),
        "provider": {"sort": "ordered"},
        "retry": {"max_retries": 0},
        "breaker": {"failure_threshold": 1, "cooldown": cooldown},
    }
    cfg = config_for(sim, {"m": [endpoint("a"), endpoint("b")]}, router=router)
    ws = workers(cfg, 4)
    sim.provider("a").set_default(ErrorReply(500))
    ws[0].send(op="call", n=1)
    assert ws[0].result()[0]["tried"] == ["a", "b"]
    tripped = time.time()
    before = len(sim.provider("a").requests)
    # every process keeps calling from just after the cooldown until well before the next one ends
    for w in ws:
        w.send(op="call", n=1, concurrency=2, start_at=tripped + cooldown + 0.05, **{"for": 0.8})
    results = [w.result() for w in ws]
    probes = len(sim.provider("a").requests) - before
    assert probes == 1, probes
    assert sum("a" in o["tried"] for r in results for o in r) == 1
    assert all(o["served_by"] == "b" for r in results for o in r)


def test_a_budget_shared_by_8_processes_never_overspends(
    sim: ProviderSimulator, redis_url: str, prefix: str, workers: Any
) -> None:
    cfg = config_for(sim, {"m": [endpoint("a", pricing=PRICED)]}, router={"state": state(redis_url, prefix)})
    cfg["budgets"] = [{"scope": "user", "match": "*", "limit_usd": "0.01", "period": "day"}]
    sim.provider("a").set_default(TEN_TOKENS)  # $0.001 a call, reserved at max_tokens=10: $0.001
    ws = workers(cfg, 8)
    start_at = time.time() + 0.3
    for w in ws:
        w.send(op="call", n=6, concurrency=6, start_at=start_at, params={"user": "team", "max_tokens": 10})
    outcomes = [o for w in ws for o in w.result()]
    served = [o for o in outcomes if "served_by" in o]
    refused = [o for o in outcomes if o.get("error") == "BudgetExceeded"]
    assert len(served) + len(refused) == 48
    total = sum(Decimal(o["cost"]) for o in served)
    assert total <= Decimal("0.01")
    assert 1 <= len(served) <= 10
    assert len(sim.provider("a").requests) == len(served)
    with polyroute.Router.from_config(cfg) as router:
        guard = router.budgets
        assert guard is not None
        spent, held = guard.spent(guard.rules[0], "team")
    assert spent == total and held == 0


def test_a_sticky_session_lands_on_the_same_endpoint_from_any_process(
    sim: ProviderSimulator, redis_url: str, prefix: str, workers: Any
) -> None:
    router = {"state": state(redis_url, prefix), "provider": {"sort": "ordered"}}
    cfg = config_for(sim, {"m": [endpoint("a"), endpoint("b")]}, router=router)
    ws = workers(cfg, 3)
    # the first process is sent to b by an explicit order; the conversation remembers b
    ws[0].send(op="call", n=1, params={"session_id": "conv-1", "provider": {"order": ["b"]}})
    assert ws[0].result()[0]["served_by"] == "b"
    _wait_for(lambda: _keys(redis_url, f"{prefix}:sticky:*"), 10)  # written in the background
    for w in ws[1:]:
        w.send(op="call", n=2, params={"session_id": "conv-1"})
        assert [o["served_by"] for o in w.result()] == ["b", "b"]
    # without the session, configured order applies
    ws[1].send(op="call", n=1)
    assert ws[1].result()[0]["served_by"] == "a"


def test_an_rpm_limit_holds_across_processes(sim: ProviderSimulator, redis_url: str, prefix: str, workers: Any) -> None:
    router = {"state": state(redis_url, prefix), "provider": {"sort": "ordered"}}
    cfg = config_for(sim, {"m": [endpoint("a", rate_limit={"rpm": 5}), endpoint("b")]}, router=router)
    ws = workers(cfg, 4)
    start_at = time.time() + 0.3
    for w in ws:
        w.send(op="call", n=4, concurrency=4, start_at=start_at)
    outcomes = [o for w in ws for o in w.result()]
    assert all("served_by" in o for o in outcomes)
    assert sum(o["served_by"] == "a" for o in outcomes) == 5
    assert len(sim.provider("a").requests) == 5


def test_a_tpm_limit_holds_across_processes(sim: ProviderSimulator, redis_url: str, prefix: str, workers: Any) -> None:
    router = {"state": state(redis_url, prefix), "provider": {"sort": "ordered"}}
    cfg = config_for(sim, {"m": [endpoint("a", rate_limit={"tpm": 20}), endpoint("b")]}, router=router)
    sim.provider("a").set_default(TEN_TOKENS)  # 15 tokens a call
    ws = workers(cfg, 3)
    ws[0].send(op="call", n=2)  # 0, then 15 tokens counted: both under 20
    assert [o["served_by"] for o in ws[0].result()] == ["a", "a"]
    ws[0].close()  # its usage is in Redis (a closing router flushes what it has not written)
    for w in ws[1:]:  # neither has used a token itself: only the shared count can stop them
        w.send(op="call", n=1)
        assert [o["served_by"] for o in w.result()] == ["b"]
    assert len(sim.provider("a").requests) == 2


def test_shared_rate_limits_free_when_their_window_passes(sim: ProviderSimulator, redis_url: str, prefix: str) -> None:
    from polyroute.testing import FakeClock

    clock = FakeClock(start=1_800_000_000.0)
    router = {"state": state(redis_url, prefix), "provider": {"sort": "ordered"}}
    cfg = config_for(
        sim,
        {"m": [endpoint("a", rate_limit={"rpm": 2}), endpoint("t", rate_limit={"tpm": 20}), endpoint("b")]},
        router=router,
    )
    sim.provider("t").set_default(TEN_TOKENS)

    def served(r: polyroute.Router) -> str:
        return r.completion(model="m", messages=USER).route.provider

    with polyroute.Router.from_config(cfg, clock=clock) as first:
        assert [served(first) for _ in range(4)] == ["a", "a", "t", "t"]  # rpm 2, then 15 + 15 tokens
    with polyroute.Router.from_config(cfg, clock=clock) as second:  # another process, same Redis
        assert served(second) == "b"  # a's two requests and t's 30 tokens are shared
        clock.advance(62)
        assert [served(second) for _ in range(3)] == ["a", "a", "t"]  # a minute later both are free


# -- Redis going away --------------------------------------------------------------------------------


class Proxy:
    """A TCP proxy to Redis that the test can cut (every connection dropped, new ones refused)
    and restore on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.start()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        assert self._listener is not None
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone may not)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


@pytest.fixture
def proxy(redis_url: str) -> Iterator[Proxy]:
    from urllib.parse import urlparse

    u = urlparse(redis_url)
    p = Proxy((u.hostname or "127.0.0.1", u.port or 6379))
    yield p
    p.cut()


def _outage_config(sim: ProviderSimulator, proxy: Proxy, prefix: str, **extra: Any) -> dict[str, Any]:
    url = f"redis://127.0.0.1:{proxy.port}/0"
    router = {
        "state": state(url, prefix, timeout=0.2, retry_interval=0.3, **extra),
        "provider": {"sort": "ordered"},
        "timeout": {"deadline": 5},
    }
    cfg = config_for(sim, {"m": [endpoint("a", pricing=PRICED)]}, router=router)
    cfg["budgets"] = [{"scope": "user", "match": "payer", "limit_usd": "1", "period": "day"}]
    sim.provider("a").set_default(TEN_TOKENS)
    return cfg


def _keys(url: str, pattern: str) -> list[Any]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return list(client.scan_iter(pattern))
    finally:
        client.close()


def _wait_for(predicate: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.asyncio
async def test_redis_killed_mid_run_every_call_ends_within_its_deadline_budgets_closed(
    sim: ProviderSimulator, proxy: Proxy, prefix: str
) -> None:
    router = polyroute.Router.from_config(_outage_config(sim, proxy, prefix))
    try:
        assert (await router.acompletion(model="m", messages=USER, user="payer", max_tokens=10)).route.provider == "a"
        proxy.cut()
        for _ in range(5):
            started = time.monotonic()
            served = await router.acompletion(model="m", messages=USER, max_tokens=10)  # no budget: fail open
            assert served.route.provider == "a"
            with pytest.raises(errors.BudgetExceeded, match="could not be reached"):
                await router.acompletion(model="m", messages=USER, user="payer", max_tokens=10)
            assert time.monotonic() - started < 5
        sync_started = time.monotonic()
        with pytest.raises(errors.BudgetExceeded):
            router.completion(model="m", messages=USER, user="payer", max_tokens=10)
        assert time.monotonic() - sync_started < 5
        status = router.stats().state
        assert not status.connected and status.errors >= 1 and status.budget_refusals >= 6
        assert status.fallbacks >= 5  # the calls routed on this process's own state
        # Redis comes back: the process rejoins and budgets work again
        proxy.start()
        _wait_for(lambda: router.stats().state.connected, 10)
        resp = await router.acompletion(model="m", messages=USER, user="payer", max_tokens=10)
        assert resp.route.provider == "a"
    finally:
        await router.aclose()


def test_budgets_may_fail_open_when_configured(sim: ProviderSimulator, proxy: Proxy, prefix: str) -> None:
    with polyroute.Router.from_config(_outage_config(sim, proxy, prefix, budgets_on_error="open")) as router:
        proxy.cut()
        resp = router.completion(model="m", messages=USER, user="payer", max_tokens=10)
        assert resp.route.provider == "a"
        assert router.stats().state.fallbacks >= 1


def test_a_dead_redis_at_start_does_not_stop_routing(sim: ProviderSimulator, prefix: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nothing listens once closed
    cfg = config_for(sim, {"m": [endpoint("a")]}, router={"state": state(f"redis://127.0.0.1:{dead}/0", prefix)})
    with polyroute.Router.from_config(cfg) as router:
        assert router.completion(model="m", messages=USER).route.provider == "a"
        assert not router.stats().state.connected


def test_the_cluster_view_of_statistics(sim: ProviderSimulator, redis_url: str, prefix: str, workers: Any) -> None:
    cfg = config_for(sim, {"m": [endpoint("a")]}, router={"state": state(redis_url, prefix)})
    ws = workers(cfg, 2)
    for w in ws:
        w.send(op="call", n=3)
        w.result()
    with polyroute.Router.from_config(cfg) as router:
        _wait_for(lambda: router.stats()["a/a-model"].windows["5m"].successes == 6, 10)
        assert router.stats().state.processes == 3


def test_the_redis_client_is_imported_only_when_used() -> None:
    code = "import polyroute, sys; polyroute.Router.from_config({}); print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
