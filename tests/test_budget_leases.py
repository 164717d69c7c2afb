"""Budget reservations live until they are settled, however long the call and however short
``hold_seconds``; the holds of a process that died still expire.

Every store: in memory, SQLite, PostgreSQL (``POLYROUTE_TEST_POSTGRES_URL``) and Redis
(``POLYROUTE_TEST_REDIS_URL``); the last two skip, saying why, when unset. Time is a
:class:`~polyroute.testing.FakeClock`: a call "runs" for a hundred ``hold_seconds`` while the test
moves the clock, and nothing sleeps.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import polyroute
from polyroute import errors
from polyroute.budgets import Charge, SQLiteBudgetStore
from polyroute.testing import FakeClock, FunctionBackend, ProviderCall, Reply

D = Decimal
USER = [{"role": "user", "content": "hello there"}]
HOLD = 1.0  # seconds: far shorter than the calls below
#: prompt tokens free, 10 completion tokens at $0.001: every call's worst case (max_tokens=10) is $0.01
PRICING = {"prompt": "0", "completion": "0.001"}
TEN_TOKENS = Reply(text="ten tokens", usage={"prompt_tokens": 5, "completion_tokens": 10})
#: room for exactly three calls at once
LIMIT = "0.03"
REDIS_URL_ENV = "POLYROUTE_TEST_REDIS_URL"


@pytest.fixture(params=["memory", "sqlite", "postgres", "redis"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Where the counters live, as config sections: no ledger (memory), the SQLite ledger, the
    PostgreSQL ledger, or the Redis state backend."""
    if request.param == "memory":
        yield {}
    elif request.param == "sqlite":
        yield {"ledger": {"url": str(tmp_path / "usage.db")}}
    elif request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        yield {"ledger": {"url": url, "schema": request.getfixturevalue("postgres_schema")}}
    else:
        url = os.environ.get(REDIS_URL_ENV)
        if not url:
            pytest.skip(f"no Redis configured: set {REDIS_URL_ENV} (e.g. redis://127.0.0.1:6379/0)")
        prefix = f"polyroute-test-{secrets.token_hex(6)}"
        yield {"router": {"state": {"backend": "redis", "url": url, "prefix": prefix, "timeout": 5.0}}}
        import redis

        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def config(where: dict[str, Any]) -> dict[str, Any]:
    router = {"retry": {"max_retries": 0}, **where.get("router", {})}
    return {
        "providers": {"alpha": {"api": "custom"}},
        "models": {"m": {"endpoints": [{"provider": "alpha", "model": "alpha-1", "pricing": PRICING}]}},
        "budgets": [{"scope": "user", "match": "*", "limit_usd": LIMIT, "period": "total"}],
        "costs": {"hold_seconds": HOLD},
        **{k: v for k, v in where.items() if k != "router"},
        "router": router,
    }


@pytest.fixture
def make_router(where: dict[str, Any], clock: FakeClock) -> Iterator[Callable[[FunctionBackend], polyroute.Router]]:
    made: list[polyroute.Router] = []

    def factory(backend: FunctionBackend) -> polyroute.Router:
        router = polyroute.Router.from_config(config(where), clock=clock, backends={"alpha": backend})
        made.append(router)
        return router

    yield factory
    for r in made:
        r.close()


def balance(router: polyroute.Router) -> tuple[Decimal, Decimal]:
    guard = router.budgets
    assert guard is not None
    return guard.spent(guard.rules[0], "u")


class Blocking:
    """The first ``n`` calls wait until :meth:`release`; the others answer at once."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.arrived = threading.Semaphore(0)
        self.go = threading.Event()

    def __call__(self, call: ProviderCall) -> Reply:
        if call.index < self.n:
            self.arrived.release()
            assert self.go.wait(30), "never released"
        return TEN_TOKENS

    def wait_arrivals(self) -> None:
        for _ in range(self.n):
            assert self.arrived.acquire(timeout=30), "a call never reached the provider"


def test_calls_far_longer_than_hold_seconds_never_overspend(
    make_router: Callable[[FunctionBackend], polyroute.Router], clock: FakeClock
) -> None:
    answer = Blocking(3)
    router = make_router(FunctionBackend(answer))
    results: list[Any] = []

    def call() -> None:
        try:
            results.append(router.completion(model="m", messages=USER, user="u", max_tokens=10))
        except Exception as exc:  # collected, asserted below
            results.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    answer.wait_arrivals()
    assert balance(router) == (0, D(LIMIT))  # three calls in flight hold the whole budget
    clock.advance(100 * HOLD)  # the calls run on, a hundred times hold_seconds
    assert balance(router) == (0, D(LIMIT))  # ... and their holds still count
    with pytest.raises(errors.BudgetExceeded):
        router.completion(model="m", messages=USER, user="u", max_tokens=10)
    with pytest.raises(errors.BudgetExceeded):
        list(router.completion(model="m", messages=USER, user="u", max_tokens=10, stream=True))
    answer.go.set()
    for t in threads:
        t.join(30)
    assert all(isinstance(r, polyroute.ChatCompletion) for r in results), results
    assert balance(router) == (D(LIMIT), 0)
    with pytest.raises(errors.BudgetExceeded):
        router.completion(model="m", messages=USER, user="u", max_tokens=10)


def test_async_calls_far_longer_than_hold_seconds_never_overspend(
    make_router: Callable[[FunctionBackend], polyroute.Router], clock: FakeClock
) -> None:
    async def main() -> None:
        go = asyncio.Event()
        arrived: list[int] = []
        all_in = asyncio.Event()

        async def answer(call: ProviderCall) -> Reply:
            if call.index < 3:
                arrived.append(call.index)
                if len(arrived) == 3:
                    all_in.set()
                await go.wait()
            return TEN_TOKENS

        router = make_router(FunctionBackend(answer))
        calls = [
            asyncio.create_task(router.acompletion(model="m", messages=USER, user="u", max_tokens=10)) for _ in range(3)
        ]
        await asyncio.wait_for(all_in.wait(), 30)
        clock.advance(100 * HOLD)
        with pytest.raises(errors.BudgetExceeded):
            await router.acompletion(model="m", messages=USER, user="u", max_tokens=10)
        with pytest.raises(errors.BudgetExceeded):
            stream = await router.acompletion(model="m", messages=USER, user="u", max_tokens=10, stream=True)
            [c async for c in stream]
        go.set()
        done = await asyncio.wait_for(asyncio.gather(*calls), 30)
        assert len(done) == 3
        assert balance(router) == (D(LIMIT), 0)

    asyncio.run(main())


def test_an_open_stream_keeps_its_hold(
    make_router: Callable[[FunctionBackend], polyroute.Router], clock: FakeClock
) -> None:
    router = make_router(FunctionBackend(lambda call: TEN_TOKENS))
    streams = [router.completion(model="m", messages=USER, user="u", max_tokens=10, stream=True) for _ in range(3)]
    firsts = [next(s) for s in streams]  # each has started: its reservation is held
    clock.advance(100 * HOLD)  # the caller reads slowly
    with pytest.raises(errors.BudgetExceeded):
        router.completion(model="m", messages=USER, user="u", max_tokens=10)
    for first, s in zip(firsts, streams, strict=True):
        assert "".join(c.choices[0].delta.content or "" for c in [first, *s] if c.choices) == "ten tokens"
    assert balance(router) == (D(LIMIT), 0)


def test_renewal_moves_only_live_holds_forward(
    make_router: Callable[[FunctionBackend], polyroute.Router], clock: FakeClock
) -> None:
    router = make_router(FunctionBackend(lambda call: TEN_TOKENS))
    guard = router.budgets
    assert guard is not None
    store: Any = guard.store
    if not hasattr(store, "renew"):
        pytest.skip("an in-memory store keeps every hold until it is settled: nothing to renew")
    counter = f"{guard.rules[0].id}|u|total"
    charges = (Charge(counter, D(LIMIT)),)
    now = clock.time()
    assert store.reserve("h1", charges, D("0.02"), now=now, expires_at=now + 1) is None
    store.renew([("h1", charges), ("never-made", charges)], expires_at=now + 50)
    store.renew([("h1", charges)], expires_at=now + 10)  # never moves an expiry back
    assert store.balance(counter, now=now + 49) == (0, D("0.02"))
    assert store.reserve("h2", charges, D("0.02"), now=now + 49, expires_at=now + 60) is not None
    assert store.reserve("h2", charges, D("0.02"), now=now + 50, expires_at=now + 60) is None
    assert store.balance(counter, now=now + 50) == (0, D("0.02"))  # h2's


_DIES_MID_CALL = """
import json, os, sys
import polyroute
from polyroute.testing import FakeClock, FunctionBackend
cfg, start = json.loads(sys.argv[1]), float(sys.argv[2])
router = polyroute.Router.from_config(cfg, clock=FakeClock(start), backends={"alpha": FunctionBackend(lambda c: os._exit(0))})
router.completion(model="m", messages=[{"role": "user", "content": "hi"}], user="u", max_tokens=30)
"""


def test_the_holds_of_a_process_that_died_mid_call_expire(
    where: dict[str, Any], make_router: Callable[[FunctionBackend], polyroute.Router], clock: FakeClock
) -> None:
    if not where:
        pytest.skip("an in-memory store dies with its process: its holds go with it")
    router = make_router(FunctionBackend(lambda call: TEN_TOKENS))
    # another process reserves the whole budget ($0.03 for 30 tokens), then dies (kill -9) mid-call
    done = subprocess.run(
        [sys.executable, "-c", _DIES_MID_CALL, json.dumps(config(where)), repr(clock.time())],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert balance(router) == (0, D(LIMIT))
    with pytest.raises(errors.BudgetExceeded):
        router.completion(model="m", messages=USER, user="u", max_tokens=10)
    clock.advance(HOLD)  # nobody renews a dead process's holds: they expire hold_seconds later
    assert router.completion(model="m", messages=USER, user="u", max_tokens=10).route is not None
    assert balance(router) == (D("0.01"), 0)


class _RenewalWatch(SQLiteBudgetStore):
    """A SQLite budget store that sets :attr:`renewed` on a renewal of some holds expiring after
    :attr:`after` (a renewal to wait for: one made after the clock moved)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.renewed = threading.Event()
        self.after = math.inf

    def renew(self, holds: Any, *, expires_at: float) -> None:
        super().renew(holds, expires_at=expires_at)
        if holds and expires_at > self.after:
            self.renewed.set()


def test_a_background_thread_renews_the_holds_of_calls_in_flight(tmp_path: Path) -> None:
    """Without any other reservation from this process (which renews first), the holds of a call
    in flight are still renewed, so that other processes, which purge expired holds, never free
    them: by a thread, every third of ``hold_seconds`` (real time; here 0.1 s)."""
    from polyroute.budgets import BudgetGuard, BudgetRule, SQLiteBudgetStore

    clock = FakeClock()
    rule = BudgetRule(scope="user", match="*", limit_usd=D(LIMIT), period="total")
    guard = BudgetGuard(
        [rule], store := _RenewalWatch(tmp_path / "b.db"), clock=clock, costs=polyroute.CostSettings(hold_seconds=0.3)
    )
    answer = Blocking(1)
    cfg = config({})
    del cfg["budgets"]
    router = polyroute.Router.from_config(cfg, clock=clock, budgets=guard, backends={"alpha": FunctionBackend(answer)})
    done = threading.Thread(target=lambda: router.completion(model="m", messages=USER, user="u", max_tokens=10))
    try:
        done.start()
        answer.wait_arrivals()
        clock.advance(100)  # fake time: the hold's lease is long gone unless renewed
        store.after = clock.time()
        assert store.renewed.wait(10), "the holds of a call in flight were never renewed"
        other = SQLiteBudgetStore(tmp_path / "b.db")  # another process: purges what has expired
        assert other.balance(f"{rule.id}|u|total", now=clock.time()) == (0, D("0.01"))
        other.close()
    finally:
        answer.go.set()
        done.join(30)
        router.close()
    assert guard.spent(rule, "u") == (D("0.01"), 0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="this platform cannot fork")
@pytest.mark.parametrize("mid_wait", [False, True], ids=["parent-thread-idle", "parent-thread-mid-wait"])
def test_a_forked_child_renews_the_holds_of_its_own_calls(tmp_path: Path, mid_wait: bool) -> None:
    """Threads do not survive ``fork()``: a child that inherits a guard whose renewing thread runs
    in the parent starts one of its own for its calls' holds, which then stay while its call
    runs (however far the clock moves) and are freed when it ends. ``mid_wait``: the fork comes
    while the parent's thread holds its stop event's lock (as it does entering and leaving each
    wait), which the child inherits held."""
    import contextlib
    import select
    import signal
    import traceback
    import warnings

    from polyroute.budgets import BudgetGuard, BudgetRule, SQLiteBudgetStore

    clock = FakeClock()
    parent = os.getpid()
    child_arrived, child_go = threading.Event(), threading.Event()

    def answer(call: ProviderCall) -> Reply:
        if os.getpid() != parent:  # the child's call runs until the child lets it answer
            child_arrived.set()
            assert child_go.wait(30), "never released"
        return TEN_TOKENS

    rule = BudgetRule(scope="user", match="*", limit_usd=D(LIMIT), period="total")
    db = tmp_path / "b.db"
    guard = BudgetGuard([rule], store := _RenewalWatch(db), clock=clock, costs=polyroute.CostSettings(hold_seconds=0.3))
    cfg = config({})
    del cfg["budgets"]
    router = polyroute.Router.from_config(cfg, clock=clock, budgets=guard, backends={"alpha": FunctionBackend(answer)})
    counter = f"{rule.id}|u|total"

    def child() -> None:
        call = threading.Thread(target=lambda: router.completion(model="m", messages=USER, user="u", max_tokens=10))
        call.start()
        assert child_arrived.wait(30), "the child's call never reached the provider"
        clock.advance(100)  # fake time: the hold's lease is long gone unless renewed
        store.after = clock.time()
        assert store.renewed.wait(10), "the child never renewed the holds of its call in flight"
        other = SQLiteBudgetStore(db)  # another process: purges what has expired
        assert other.balance(counter, now=clock.time()) == (D("0.01"), D("0.01"))  # the parent's, the child's
        other.close()
        child_go.set()
        call.join(30)
        assert not call.is_alive()
        assert guard.spent(rule, "u") == (D("0.02"), 0)  # settled: nothing held any more

    try:
        router.completion(model="m", messages=USER, user="u", max_tokens=10)  # the parent's renewing thread runs
        thread = guard._thread
        assert thread is not None and thread.is_alive()
        read, write = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: forking a process that has threads
            held = guard._stop._cond if mid_wait else contextlib.nullcontext()  # type: ignore[attr-defined]
            held.__enter__()
            pid = os.fork()
            if pid != 0:  # only the parent lets go: the child's copy stays held, by nobody
                held.__exit__(None, None, None)
        if pid == 0:  # the child: report, then leave without running the parent's test machinery
            os.close(read)
            code, report = 1, "the child raised nothing and reported nothing"
            try:
                child()
                code, report = 0, "ok"
            except BaseException:
                report = traceback.format_exc()
            finally:
                os.write(write, report.encode()[-4000:])
                os._exit(code)
        os.close(write)
        ready: list[int] = []
        try:
            ready, _, _ = select.select([read], [], [], 120)
            report = os.read(read, 8192).decode() if ready else "the child never reported"
        finally:
            os.close(read)
            if not ready:
                os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0 and report == "ok", report
        assert guard.spent(rule, "u") == (D("0.02"), 0)  # the parent sees the child's call settled
        assert guard._thread is thread and thread.is_alive()  # and keeps its own renewing thread
    finally:
        router.close()
