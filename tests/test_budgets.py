"""Budgets: checked before anything is sent by reserving the worst case, reconciled after, never overspent."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import USER, config_for, endpoint

import polyroute
from polyroute import errors
from polyroute.budgets import (
    BudgetGuard,
    BudgetRule,
    BudgetStore,
    Charge,
    MemoryBudgetStore,
    PostgresBudgetStore,
    SQLiteBudgetStore,
    estimate_prompt_tokens,
    window,
)
from polyroute.routing._tokens import PromptSize, encoding_for
from polyroute.testing import ErrorReply, FakeClock, ProviderSimulator, Reply

D = Decimal
#: prompt tokens are free and a reply is always 10 completion tokens at $0.001: with max_tokens=10
#: every call's worst case equals its actual cost, $0.01
FLAT = {"prompt": "0", "completion": "0.001"}
TEN_TOKENS = Reply(text="ten tokens", usage={"prompt_tokens": 5, "completion_tokens": 10})


# -- stores ------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], BudgetStore]]:
    """Makes stores over one shared backend (each SQLite/PostgreSQL store has its own connections,
    like separate processes)."""
    made: list[BudgetStore] = []
    memory = MemoryBudgetStore()

    def factory() -> BudgetStore:
        store: BudgetStore
        if request.param == "memory":
            store = memory
        elif request.param == "sqlite":
            store = SQLiteBudgetStore(tmp_path / "budgets.db")
        else:
            url = request.getfixturevalue("postgres_url")
            store = PostgresBudgetStore(url, schema=request.getfixturevalue("postgres_schema"))
        made.append(store)
        return store

    yield factory
    for s in made:
        s.close()


def test_reserve_settle_release(make_store: Callable[[], BudgetStore]) -> None:
    store = make_store()
    c = Charge("user:*:day|alice|2025-01-01", D("1.00"))
    assert store.reserve("h1", [c], D("0.60"), now=0, expires_at=100) is None
    refusal = store.reserve("h2", [c], D("0.50"), now=0, expires_at=100)
    assert refusal is not None and (refusal.spent, refusal.held) == (0, D("0.60"))
    store.settle("h1", [c], D("0.25"))  # the call cost less than its worst case
    assert store.balance(c.counter, now=0) == (D("0.25"), 0)
    assert store.reserve("h3", [c], D("0.75"), now=0, expires_at=100) is None  # exactly the limit fits
    store.settle("h3", [c], D("0"))  # released: it cost nothing
    assert store.balance(c.counter, now=0) == (D("0.25"), 0)


def test_all_counters_or_none(make_store: Callable[[], BudgetStore]) -> None:
    store = make_store()
    roomy, tight = Charge("a", D("10")), Charge("b", D("1"))
    assert store.reserve("h1", [roomy, tight], D("2"), now=0, expires_at=100) is not None
    assert store.balance("a", now=0) == (0, 0)  # nothing held on the roomy counter either


def test_holds_of_a_vanished_process_expire(make_store: Callable[[], BudgetStore]) -> None:
    store = make_store()
    if isinstance(store, MemoryBudgetStore):
        pytest.skip("an in-memory store vanishes with its process: its holds live until settled")
    c = Charge("c", D("1"))
    assert store.reserve("lost", [c], D("1"), now=0, expires_at=60) is None
    assert store.reserve("h", [c], D("1"), now=59, expires_at=120) is not None
    assert store.reserve("h", [c], D("1"), now=60, expires_at=120) is None


def test_concurrent_reservations_never_overspend(make_store: Callable[[], BudgetStore]) -> None:
    stores = [make_store() for _ in range(3)]  # three "instances" sharing the counters
    c = Charge("shared", D("0.10"))
    granted: list[str] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        store = stores[i % len(stores)]
        if store.reserve(f"h{i}", [c], D("0.01"), now=0, expires_at=1000) is None:
            store.settle(f"h{i}", [c], D("0.01"))
            with lock:
                granted.append(f"h{i}")

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(attempt, range(40)))
    assert len(granted) == 10
    assert stores[0].balance("shared", now=0) == (D("0.10"), 0)


# -- estimates and windows -----------------------------------------------------------------------


def test_prompt_estimate_is_conservative() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 20  # about 200 tokens in real tokenizers
    assert estimate_prompt_tokens([{"role": "user", "content": text}]) >= 400
    cjk = "预算检查必须保守" * 10  # about 1 token per character
    assert estimate_prompt_tokens([{"role": "user", "content": cjk}]) >= 80
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:..."}}]}]
    assert estimate_prompt_tokens(image) >= 1600


_CALL = {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": '{"q": "预算检查 budget"}'}}
_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the knowledge base for a query and return the best passages.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    }
]
#: prompts of every kind the router carries: (messages, tools)
PROMPTS: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]] | None]] = {
    "prose": (
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why is the sky blue? " * 30}],
        None,
    ),
    "cjk": ([{"role": "user", "content": "预算检查必须保守，不能少算。" * 20}], None),
    "code": ([{"role": "user", "content": "def f(x: int) -> int:\n    return x * 2  # double\n" * 20}], None),
    "small parts": ([{"role": "user", "content": [{"type": "text", "text": c} for c in "abcdefghij"]}], None),
    # the texts where byte-based rules of thumb fall short: every token here is one or two bytes
    "digits": ([{"role": "user", "content": " ".join(str(i * 7919 % 1000) for i in range(400))}], None),
    "symbols": ([{"role": "user", "content": "@#$%^&*()[]{}<>~`|\\;:" * 40}], None),
    "emoji": ([{"role": "user", "content": "🙂🚀🔥💡✅❌" * 60}], None),
    "tool round trip": (
        [
            {"role": "user", "content": "search for the budget rules"},
            {"role": "assistant", "content": None, "tool_calls": [_CALL]},
            {"role": "tool", "tool_call_id": "call_1", "name": "search", "content": "规则：每天十美元。" * 10},
        ],
        _TOOLS,
    ),
}


def _tiktoken_count(encoding: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
    """OpenAI's published way of counting chat tokens: 3 a message plus every value's tokens, 3 to prime."""
    total = 3
    for m in messages:
        total += 3 + (1 if "name" in m else 0)
        for value in m.values():
            if isinstance(value, list) and all("text" in part for part in value):
                texts = [part["text"] for part in value]
            else:
                texts = [value if isinstance(value, str) else json.dumps(value)] if value is not None else []
            total += sum(len(encoding.encode(t, disallowed_special=())) for t in texts)
    if tools:
        total += len(encoding.encode(json.dumps(tools)))
    return total


@pytest.mark.parametrize("encoding_name", ["o200k_base", "cl100k_base"])
@pytest.mark.parametrize("kind", sorted(PROMPTS))
def test_prompt_estimate_covers_real_token_counts(kind: str, encoding_name: str) -> None:
    encoding = encoding_for(encoding_name)
    if encoding is None:
        pytest.skip(f"tiktoken's {encoding_name} BPE file is not installed offline")
    messages, tools = PROMPTS[kind]
    assert estimate_prompt_tokens(messages, tools) >= _tiktoken_count(encoding, messages, tools)


@pytest.mark.parametrize("kind", sorted(PROMPTS))
def test_prompt_estimate_is_never_below_the_routing_estimate(kind: str) -> None:
    messages, tools = PROMPTS[kind]
    assert estimate_prompt_tokens(messages, tools) >= PromptSize(messages, tools).upper


def test_prompt_estimate_counts_every_part_and_field() -> None:
    one = [{"role": "user", "content": "x"}]
    base = estimate_prompt_tokens(one)
    assert estimate_prompt_tokens([{"role": "user", "content": [{"type": "text", "text": "x"}] * 20}]) >= base + 19
    assert estimate_prompt_tokens([{"role": "user", "content": "x", "name": "n" * 200}]) >= base + 100
    tool = [{"role": "tool", "content": "x", "tool_call_id": "c" * 200}]
    assert estimate_prompt_tokens(tool) >= base + 100
    audio = [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "QUJD" * 100}}]}]
    assert estimate_prompt_tokens(audio) >= 200
    image = [{"role": "user", "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}]}]
    assert estimate_prompt_tokens(image) >= 1600


def test_windows_are_utc_calendar_periods() -> None:
    t = 1_741_392_000.0  # 2025-03-08 00:00 UTC
    assert window("day", t) == "2025-03-08"
    assert window("day", t - 1) == "2025-03-07"
    assert window("week", t) == "2025-W10"
    assert window("month", t) == "2025-03"
    assert window("total", t) == "total"


def test_rule_subjects() -> None:
    everyone = BudgetRule(scope="user", limit_usd=D(1), period="day")
    alice = BudgetRule(scope="user", limit_usd=D(1), period="day", match="alice")
    tagged = BudgetRule(scope="tag", limit_usd=D(1), period="day")
    assert everyone.subjects("bob", None, None, ()) == ["bob"]
    assert alice.subjects("bob", None, None, ()) == []
    assert alice.subjects(None, None, None, ()) == []
    assert tagged.subjects(None, None, None, ("a", "b")) == ["a", "b"]


# -- through the router ------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def ledger_config(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Where the counters live: in memory (no ledger), in the SQLite ledger, in the PostgreSQL one."""
    if request.param == "memory":
        return {}
    if request.param == "sqlite":
        return {"ledger": {"url": str(tmp_path / "usage.db")}}
    return {
        "ledger": {"url": request.getfixturevalue("postgres_url"), "schema": request.getfixturevalue("postgres_schema")}
    }


@pytest.fixture
def budget_router(
    sim: ProviderSimulator, clock: FakeClock, ledger_config: dict[str, Any]
) -> Iterator[Callable[..., polyroute.Router]]:
    made: list[polyroute.Router] = []

    def factory(
        budgets: list[dict[str, Any]], endpoints: list[dict[str, Any]] | None = None, **extra: Any
    ) -> polyroute.Router:
        settings = {"retry": {"max_retries": 0}, "provider": {"sort": "ordered"}}  # endpoints in configured order
        cfg = config_for(sim, {"m": endpoints or [endpoint("a", pricing=FLAT)]}, router=settings)
        cfg.update(ledger_config, budgets=budgets, **extra)
        r = polyroute.Router.from_config(cfg, clock=clock, rng=random.Random(7))
        made.append(r)
        return r

    yield factory
    for r in made:
        r.close()


def test_over_budget_raises_402_and_sends_nothing(
    sim: ProviderSimulator, budget_router: Callable[..., polyroute.Router]
) -> None:
    router = budget_router([{"scope": "user", "match": "*", "limit_usd": "0.005", "period": "day"}])
    with pytest.raises(errors.BudgetExceeded) as info:
        router.completion(model="m", messages=USER, user="alice", max_tokens=10)
    err = info.value
    assert err.status_code == 402
    assert sim.provider("a").requests == []
    assert [(a.outcome, a.error) for a in err.attempts] == [("skipped", "BudgetExceeded")]
    assert (err.limit, err.spent, err.requested) == (D("0.005"), 0, D("0.01"))
    assert "user 'alice'" in err.scope


def test_a_guard_of_your_own_replaces_the_routers_and_keeps_its_counters_where_the_router_would(
    sim: ProviderSimulator, budget_router: Callable[..., polyroute.Router], ledger_config: dict[str, Any]
) -> None:
    router = budget_router([])
    assert router.budgets is None
    store = router.budget_store()
    expected = {"memory": MemoryBudgetStore, "sqlite": SQLiteBudgetStore, "postgres": PostgresBudgetStore}
    kind = "memory" if not ledger_config else ("sqlite" if "usage.db" in ledger_config["ledger"]["url"] else "postgres")
    assert isinstance(store, expected[kind])
    rule = BudgetRule(scope="user", limit_usd=D("0.005"), period="day")
    guard = BudgetGuard((rule,), store, clock=router.clock, costs=router.catalog.settings.costs)
    assert router.set_budgets(guard) is None
    assert router.budgets is guard
    with pytest.raises(errors.BudgetExceeded):
        router.completion(model="m", messages=USER, user="alice", max_tokens=10)
    assert sim.provider("a").requests == []
    assert router.set_budgets(None) is guard
    router.completion(model="m", messages=USER, user="alice", max_tokens=10)
    assert len(sim.provider("a").requests) == 1
    guard.close()  # the caller's to close


def test_replacing_the_configured_guard_leaves_it_the_routers_to_close(
    sim: ProviderSimulator, budget_router: Callable[..., polyroute.Router]
) -> None:
    router = budget_router([{"scope": "user", "match": "*", "limit_usd": "1", "period": "day"}])
    configured = router.budgets
    assert configured is not None
    mine = BudgetGuard((*configured.rules,), configured.store, clock=router.clock)  # shares its counters
    assert router.set_budgets(mine) is configured
    sim.provider("a").set_default(Reply(text="ok", usage={"prompt_tokens": 5, "completion_tokens": 3}))
    router.completion(model="m", messages=USER, user="alice", max_tokens=10)
    assert configured.spent(configured.rules[0], "alice") == (D("0.003"), 0)


def test_reconciled_to_the_actual_cost(sim: ProviderSimulator, budget_router: Callable[..., polyroute.Router]) -> None:
    router = budget_router([{"scope": "user", "match": "*", "limit_usd": "1", "period": "day"}])
    sim.provider("a").set_default(Reply(text="short", usage={"prompt_tokens": 5, "completion_tokens": 3}))
    route = router.completion(model="m", messages=USER, user="alice", max_tokens=500).route  # reserved $0.5
    assert route is not None and route.cost == D("0.003")
    guard = router.budgets
    assert guard is not None
    assert guard.spent(guard.rules[0], "alice") == (D("0.003"), 0)


def test_failed_attempts_are_released(sim: ProviderSimulator, budget_router: Callable[..., polyroute.Router]) -> None:
    router = budget_router([{"scope": "project", "match": "search", "limit_usd": "1", "period": "month"}])
    sim.provider("a").set_default(ErrorReply(503))
    with pytest.raises(errors.NoEndpointAvailable):
        router.completion(model="m", messages=USER, project="search", max_tokens=10)
    guard = router.budgets
    assert guard is not None
    assert guard.spent(guard.rules[0], "search") == (0, 0)


def test_a_cheaper_endpoint_within_budget_serves(
    sim: ProviderSimulator, budget_router: Callable[..., polyroute.Router]
) -> None:
    dear = endpoint("dear", pricing={"prompt": "0", "completion": "0.01"})
    cheap = endpoint("cheap", pricing=FLAT)
    router = budget_router([{"scope": "key", "match": "*", "limit_usd": "0.05", "period": "total"}], [dear, cheap])
    sim.provider("cheap").set_default(TEN_TOKENS)
    route = router.completion(model="m", messages=USER, caller_key="k1", max_tokens=10).route
    assert route is not None and route.provider == "cheap"
    assert [(a.provider, a.outcome, a.error) for a in route.attempts] == [
        ("dear", "skipped", "BudgetExceeded"),
        ("cheap", "success", None),
    ]
    assert sim.provider("dear").requests == []


def test_key_budgets_never_show_the_key(
    sim: ProviderSimulator, budget_router: Callable[..., polyroute.Router], tmp_path: Path
) -> None:
    secret = "sk-live-0123456789abcdef"
    router = budget_router([{"scope": "key", "match": "*", "limit_usd": "0.005", "period": "day"}])
    with pytest.raises(errors.BudgetExceeded) as info:
        router.completion(model="m", messages=USER, caller_key=secret, max_tokens=10)
    assert secret not in str(info.value) and secret not in info.value.scope
    assert polyroute.key_fingerprint(secret) in info.value.scope
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert secret.encode() not in file.read_bytes()


def test_every_applicable_budget_is_charged(
    sim: ProviderSimulator, budget_router: Callable[..., polyroute.Router]
) -> None:
    router = budget_router(
        [
            {"scope": "user", "match": "*", "limit_usd": "1", "period": "day"},
            {"scope": "tag", "match": "batch", "limit_usd": "0.02", "period": "week"},
        ]
    )
    sim.provider("a").set_default(TEN_TOKENS)
    for user in ("u1", "u2"):
        router.completion(model="m", messages=USER, user=user, tags=["batch", "x"], max_tokens=10)
    with pytest.raises(errors.BudgetExceeded) as info:  # the tag's budget is spent, not the users'
        router.completion(model="m", messages=USER, user="u3", tags=["batch"], max_tokens=10)
    assert "tag 'batch'" in info.value.scope
    router.completion(model="m", messages=USER, user="u3", tags=["other"], max_tokens=10)  # not that tag: fine
    router.completion(model="m", messages=USER, max_tokens=10)  # no user, no tag: no budget applies
    guard = router.budgets
    assert guard is not None
    assert guard.spent(guard.rules[0], "u1") == (D("0.01"), 0)
    assert guard.spent(guard.rules[1], "batch") == (D("0.02"), 0)


def test_the_period_rolls_over(
    sim: ProviderSimulator, budget_router: Callable[..., polyroute.Router], clock: FakeClock
) -> None:
    router = budget_router([{"scope": "user", "match": "*", "limit_usd": "0.01", "period": "day"}])
    sim.provider("a").set_default(TEN_TOKENS)
    router.completion(model="m", messages=USER, user="alice", max_tokens=10)
    with pytest.raises(errors.BudgetExceeded):
        router.completion(model="m", messages=USER, user="alice", max_tokens=10)
    clock.advance(86_400)
    router.completion(model="m", messages=USER, user="alice", max_tokens=10)


def test_without_max_tokens_the_endpoint_bounds_the_reservation(
    sim: ProviderSimulator, budget_router: Callable[..., polyroute.Router]
) -> None:
    bounded = endpoint("a", pricing=FLAT, max_output_tokens=20)
    router = budget_router([{"scope": "user", "match": "*", "limit_usd": "0.015", "period": "day"}], [bounded])
    sim.provider("a").set_default(TEN_TOKENS)
    with pytest.raises(errors.BudgetExceeded) as info:  # 20 tokens may cost $0.02
        router.completion(model="m", messages=USER, user="alice")
    assert info.value.requested == D("0.02")
    router.completion(model="m", messages=USER, user="alice", max_tokens=15)


def test_unpriced_endpoints_are_refused_under_a_budget(
    sim: ProviderSimulator, budget_router: Callable[..., polyroute.Router]
) -> None:
    router = budget_router(
        [{"scope": "user", "match": "*", "limit_usd": "100", "period": "day"}], [{"provider": "a", "model": "x"}]
    )
    with pytest.raises(errors.BudgetExceeded, match="no known prices"):
        router.completion(model="m", messages=USER, user="alice", max_tokens=10)
    router.completion(model="m", messages=USER, max_tokens=10)  # no budget applies: fine


def test_platform_fee_counts_against_budgets(
    sim: ProviderSimulator, budget_router: Callable[..., polyroute.Router]
) -> None:
    router = budget_router(
        [{"scope": "user", "match": "*", "limit_usd": "1", "period": "day"}], costs={"platform_fee_percent": 10}
    )
    sim.provider("a").set_default(TEN_TOKENS)
    router.completion(model="m", messages=USER, user="alice", max_tokens=10)
    guard = router.budgets
    assert guard is not None
    assert guard.spent(guard.rules[0], "alice") == (D("0.011"), 0)


def test_streams_are_reserved_and_settled(
    sim: ProviderSimulator, budget_router: Callable[..., polyroute.Router]
) -> None:
    router = budget_router([{"scope": "user", "match": "*", "limit_usd": "0.01", "period": "day"}])
    sim.provider("a").set_default(TEN_TOKENS)
    with router.completion(model="m", messages=USER, user="alice", max_tokens=10, stream=True) as stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "ten tokens"
    with pytest.raises(errors.BudgetExceeded):
        list(router.completion(model="m", messages=USER, user="alice", max_tokens=10, stream=True))
    assert len(sim.provider("a").requests) == 1


def test_many_concurrent_calls_never_overspend(
    sim: ProviderSimulator, budget_router: Callable[..., polyroute.Router]
) -> None:
    router = budget_router([{"scope": "user", "match": "*", "limit_usd": "0.05", "period": "day"}])
    sim.provider("a").set_default(TEN_TOKENS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def call(_: int) -> None:
        try:
            router.completion(model="m", messages=USER, user="alice", max_tokens=10)
            result = "ok"
        except errors.BudgetExceeded:
            result = "refused"
        with lock:
            outcomes.append(result)

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(call, range(30)))
    assert outcomes.count("ok") == 5 and outcomes.count("refused") == 25
    assert len(sim.provider("a").requests) == 5  # nothing was sent for the refused calls
    guard = router.budgets
    assert guard is not None
    assert guard.spent(guard.rules[0], "alice") == (D("0.05"), 0)


@pytest.mark.asyncio
async def test_many_concurrent_async_calls_never_overspend(
    sim: ProviderSimulator, budget_router: Callable[..., polyroute.Router]
) -> None:
    router = budget_router([{"scope": "user", "match": "*", "limit_usd": "0.04", "period": "day"}])
    sim.provider("a").set_default(TEN_TOKENS)

    async def call() -> str:
        try:
            await router.acompletion(model="m", messages=USER, user="bob", max_tokens=10)
        except errors.BudgetExceeded:
            return "refused"
        return "ok"

    outcomes = await asyncio.gather(*(call() for _ in range(20)))
    await router.aclose()
    assert outcomes.count("ok") == 4
    assert len(sim.provider("a").requests) == 4


def test_sqlite_counters_survive_a_restart(tmp_path: Path, sim: ProviderSimulator, clock: FakeClock) -> None:
    cfg = config_for(sim, {"m": [endpoint("a", pricing=FLAT)]})
    cfg.update(
        ledger={"url": str(tmp_path / "usage.db")},
        budgets=[{"scope": "user", "match": "*", "limit_usd": "0.01", "period": "month"}],
    )
    sim.provider("a").set_default(TEN_TOKENS)
    with polyroute.Router.from_config(cfg, clock=clock) as first:
        first.completion(model="m", messages=USER, user="alice", max_tokens=10)
    with polyroute.Router.from_config(cfg, clock=clock) as second, pytest.raises(errors.BudgetExceeded):
        second.completion(model="m", messages=USER, user="alice", max_tokens=10)


@pytest.mark.parametrize(
    ("budget", "path"),
    [
        ({"scope": "team", "limit_usd": 1}, "budgets[0].scope"),
        ({"scope": "user", "limit_usd": -1}, "budgets[0].limit_usd"),
        ({"scope": "user", "limit_usd": "lots"}, "budgets[0].limit_usd"),
        ({"scope": "user", "limit_usd": 1, "period": "year"}, "budgets[0].period"),
        ({"scope": "user"}, "budgets[0].limit_usd"),
    ],
)
def test_budget_config_errors(budget: dict[str, Any], path: str) -> None:
    with pytest.raises(polyroute.ConfigError) as info:
        polyroute.Router.from_config({"budgets": [budget]})
    assert info.value.path == path


class BrokenStore(MemoryBudgetStore):
    def reserve(self, *args: Any, **kwargs: Any) -> Any:
        raise OSError("disk gone")


def test_an_unreachable_store_fails_closed(sim: ProviderSimulator, make_router: Any) -> None:
    from polyroute.budgets import BudgetGuard

    guard = BudgetGuard([BudgetRule(scope="user", limit_usd=D(100))], BrokenStore(), clock=FakeClock())
    router = make_router({"m": [endpoint("a")]}, budgets=guard)
    with pytest.raises(errors.BudgetExceeded, match="could not be reached"):
        router.completion(model="m", messages=USER, user="alice", max_tokens=10)
    assert sim.provider("a").requests == []
    router.completion(model="m", messages=USER, max_tokens=10)  # no budget applies: no store needed


def test_no_budgets_no_guard(sim: ProviderSimulator) -> None:
    cfg = config_for(sim, {"m": [endpoint("a")]})
    with polyroute.Router.from_config(cfg) as router:
        assert router.budgets is None
