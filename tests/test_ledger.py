"""The usage ledger: one row per attempt, SQLite by default, PostgreSQL at scale; durable once acknowledged."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import USER, RouterFactory, endpoint

import polyroute
from polyroute.ledger import Ledger, LedgerRow, MemoryLedger, PostgresLedger, SQLiteLedger, default_ledger_path
from polyroute.ledger._schema import MIGRATIONS
from polyroute.testing import ErrorReply, ProviderSimulator, Reply

D = Decimal
REPO = Path(__file__).resolve().parent.parent


def row(i: int = 0, **fields: Any) -> LedgerRow:
    base: dict[str, Any] = {
        "request_id": f"pr-{i}",
        "started_at": 1_700_000_000.0 + i,
        "model": "m",
        "provider": "p",
        "endpoint_model": "p-model",
        "outcome": "success",
        "status": 200,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost": D("0.000123456789012345"),
        "fee": D("0"),
        "latency_s": 0.5,
    }
    base.update(fields)
    return LedgerRow(**base)


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "sqlite":
        made: Ledger = SQLiteLedger(tmp_path / "usage.db")
    else:
        url = request.getfixturevalue("postgres_url")
        made = PostgresLedger(url, schema=request.getfixturevalue("postgres_schema"))
    yield made
    made.close()


def test_rows_round_trip_exactly(ledger: Ledger) -> None:
    original = row(
        1,
        cached_tokens=3,
        cache_write_tokens=2,
        reasoning_tokens=4,
        provider_cost=D("0.0001"),
        cost_disagreement=True,
        ttft_s=0.1,
        user="alice",
        caller_key="key-1",
        project="search",
        tags=("batch", "eval"),
        metadata={"ticket": 42, "note": "é"},
    )
    ledger.record(original)
    ledger.record(row(2, outcome="error", error="ServerError", status=503, cost=D(0), fee=None))
    assert ledger.flush(timeout=30)
    first, second = ledger.rows()
    assert first == original
    assert (second.outcome, second.error, second.status, second.cost, second.fee) == (
        "error",
        "ServerError",
        503,
        0,
        None,
    )


def test_rows_between_times(ledger: Ledger) -> None:
    for i in range(5):
        ledger.record(row(i))
    assert ledger.flush(timeout=30)
    picked = [r.request_id for r in ledger.rows(since=1_700_000_001.0, until=1_700_000_003.0)]
    assert picked == ["pr-1", "pr-2"]


@pytest.mark.parametrize("kind", ["ledger", "memory"])
def test_rows_of_one_call_or_one_key(kind: str, ledger: Ledger) -> None:
    target: Any = ledger if kind == "ledger" else MemoryLedger()
    for i in range(6):
        target.record(row(i, request_id=f"pr-{i % 3}", caller_key=f"key:{i % 2}"))
    assert target.flush(timeout=30)
    assert [r.started_at for r in target.rows(request_id="pr-1")] == [1_700_000_001.0, 1_700_000_004.0]
    assert [r.request_id for r in target.rows(caller_key="key:1")] == ["pr-1", "pr-0", "pr-2"]
    assert [r.started_at for r in target.rows(request_id="pr-1", caller_key="key:0")] == [1_700_000_004.0]
    assert [r.started_at for r in target.rows(since=1_700_000_002.0, caller_key="key:0")] == [
        1_700_000_002.0,
        1_700_000_004.0,
    ]
    assert list(target.rows(request_id="pr-9")) == []


def test_a_reader_connection_for_queries_of_your_own(ledger: Ledger) -> None:
    assert isinstance(ledger, SQLiteLedger | PostgresLedger)
    for i in range(3):
        ledger.record(row(i, provider="a" if i else "b"))
    assert ledger.flush(timeout=30)
    conn = ledger.connect_reader()
    try:
        p = ledger.paramstyle
        sql = f"SELECT provider, COUNT(*) FROM polyroute_usage WHERE started_at >= {p} GROUP BY provider ORDER BY provider"
        assert [tuple(r) for r in conn.execute(sql, (1_700_000_000.0,)).fetchall()] == [("a", 2), ("b", 1)]
    finally:
        conn.close()
    assert "password" not in repr(ledger)


def test_every_attempt_is_a_row_with_the_callers_identity(
    ledger: Ledger, sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    router = make_router({"m": [endpoint("a"), endpoint("b")]}, router={"retry": {"max_retries": 0}}, ledger=ledger)
    sim.provider("a").enqueue(ErrorReply(503))
    sim.provider("b").set_default(Reply(text="ok", usage={"prompt_tokens": 100, "completion_tokens": 50}))
    resp = router.completion(
        model="m",
        messages=USER,
        user="alice",
        caller_key="team-key",
        project="search",
        tags=["batch"],
        metadata={"job": "nightly"},
    )
    assert ledger.flush(timeout=30)
    failed, served = ledger.rows()
    assert resp.route is not None
    assert {failed.request_id, served.request_id} == {resp.route.request_id}
    assert (failed.provider, failed.outcome, failed.error, failed.status, failed.cost) == (
        "a",
        "error",
        "ServerError",
        503,
        0,
    )
    assert (served.provider, served.outcome, served.prompt_tokens, served.completion_tokens) == (
        "b",
        "success",
        100,
        50,
    )
    assert served.cost == D("0.0002") == resp.route.cost
    assert (served.user, served.project, served.tags) == ("alice", "search", ("batch",))
    assert served.caller_key == polyroute.key_fingerprint("team-key")  # a key is never stored
    assert served.metadata == {"job": "nightly"}


def _comparable(r: LedgerRow) -> LedgerRow:
    return dataclasses.replace(r, request_id="", started_at=0.0, latency_s=None, ttft_s=None)


def test_a_streamed_calls_row_equals_the_non_streamed_calls(
    ledger: Ledger, sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    router = make_router({"m": [endpoint("a")]}, ledger=ledger)
    usage = {
        "prompt_tokens": 120,
        "completion_tokens": 40,
        "prompt_tokens_details": {"cached_tokens": 100},
        "completion_tokens_details": {"reasoning_tokens": 12},
        "cost": 0.0001,
    }
    sim.provider("a").set_default(Reply(text="the same reply, whole or in pieces", usage=usage))
    whole = router.completion(model="m", messages=USER, user="u", tags=["t"])
    with router.completion(model="m", messages=USER, user="u", tags=["t"], stream=True) as stream:
        chunks = list(stream)
    assert ledger.flush(timeout=30)
    plain, streamed = ledger.rows()
    assert plain.ttft_s is None and streamed.ttft_s is not None
    assert _comparable(plain) == _comparable(streamed)
    assert whole.route is not None and chunks[-1].route is not None
    assert plain.cost == whole.route.cost == streamed.cost == chunks[-1].route.cost
    assert (plain.cached_tokens, plain.reasoning_tokens, plain.provider_cost) == (100, 12, D("0.0001"))


@pytest.mark.asyncio
async def test_an_async_streamed_calls_row_equals_the_non_streamed_calls(
    sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    ledger = MemoryLedger()
    router = make_router({"m": [endpoint("a")]}, ledger=ledger)
    sim.provider("a").set_default(Reply(text="async reply", usage={"prompt_tokens": 7, "completion_tokens": 3}))
    await router.acompletion(model="m", messages=USER)
    stream = await router.acompletion(model="m", messages=USER, stream=True)
    async for _ in stream:
        pass
    await router.aclose()
    plain, streamed = ledger.rows()
    assert _comparable(plain) == _comparable(streamed)


def test_skipped_attempts_are_rows_too(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    ledger = MemoryLedger()
    settings = {"retry": {"max_retries": 0}, "breaker": {"failure_threshold": 1}}
    router = make_router({"m": [endpoint("a")]}, router=settings, ledger=ledger)
    sim.provider("a").set_default(ErrorReply(500))
    for _ in range(2):  # the second call finds a's circuit open: skipped, not sent
        with pytest.raises(polyroute.NoEndpointAvailable):
            router.completion(model="m", messages=USER)
    sent, skipped = ledger.rows()
    assert (sent.outcome, sent.error, sent.status) == ("error", "ServerError", 500)
    assert (skipped.outcome, skipped.error, skipped.status, skipped.latency_s, skipped.cost) == (
        "skipped",
        "CircuitOpen",
        None,
        None,
        None,
    )


def test_caller_keys_never_reach_the_database(
    tmp_path: Path, sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    ledger = SQLiteLedger(tmp_path / "usage.db")
    secret = "sk-live-0123456789abcdef"
    router = make_router({"m": [endpoint("a")]}, ledger=ledger)
    router.completion(model="m", messages=USER, caller_key=secret)
    ledger.close()
    (stored,) = SQLiteLedger(tmp_path / "usage.db").rows()
    assert stored.caller_key is not None and stored.caller_key.startswith("key:")
    assert secret not in repr(stored)
    for file in tmp_path.iterdir():
        assert secret.encode() not in file.read_bytes()


def test_close_writes_everything_recorded(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "usage.db", queue_size=8)  # a small queue: recording waits for room
    for i in range(300):
        ledger.record(row(i))
    ledger.close()
    assert ledger.acknowledged == 300 and ledger.dropped == 0
    assert len(list(SQLiteLedger(tmp_path / "usage.db").rows())) == 300


def test_router_close_flushes_a_given_ledger_and_closes_its_own(tmp_path: Path, sim: ProviderSimulator) -> None:
    p = sim.add_provider("a")
    config = {"providers": {"a": {"base_url": p.base_url}}, "models": {"m": {"endpoints": [endpoint("a")]}}}
    given = SQLiteLedger(tmp_path / "given.db")
    with polyroute.Router.from_config(config, ledger=given) as router:
        router.completion(model="m", messages=USER)
    assert given.acknowledged == 1  # flushed by router.close()
    given.record(row(9))  # still open: the caller closes it
    given.close()
    own = tmp_path / "own.db"
    with polyroute.Router.from_config({**config, "ledger": {"url": f"sqlite:///{own}"}}) as router:
        assert isinstance(router.ledger, SQLiteLedger)
        router.completion(model="m", messages=USER)
    assert router.ledger.acknowledged == 1
    assert len(list(SQLiteLedger(own).rows())) == 1


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    SQLiteLedger(tmp_path / "usage.db").close()
    with sqlite3.connect(tmp_path / "usage.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [v for (v,) in conn.execute("SELECT version FROM polyroute_migrations ORDER BY version")]
    assert versions == sorted(m.version for m in MIGRATIONS)


def _run(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )


def test_acknowledged_rows_survive_kill_9(tmp_path: Path) -> None:
    """A process records rows, waits for their acknowledgement, records more, and is SIGKILLed."""
    result = _run(
        """
        import os, signal, sys
        from decimal import Decimal
        from polyroute.ledger import LedgerRow, SQLiteLedger

        ledger = SQLiteLedger("usage.db")
        def row(i):
            return LedgerRow(f"pr-{i}", 1.7e9 + i, "m", "p", "x", "success", cost=Decimal("0.001"))
        for i in range(250):
            ledger.record(row(i))
        assert ledger.flush(timeout=60)
        print("acknowledged", ledger.acknowledged, flush=True)
        for i in range(250, 5000):
            ledger.record(row(i))  # in flight when the process dies
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        tmp_path,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert result.stdout.strip() == "acknowledged 250"
    with sqlite3.connect(tmp_path / "usage.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = {r for (r,) in conn.execute("SELECT request_id FROM polyroute_usage")}
    assert {f"pr-{i}" for i in range(250)} <= ids  # every acknowledged row is there
    assert len(ids) <= 5000


def test_a_clean_exit_writes_everything_without_an_explicit_close(tmp_path: Path) -> None:
    result = _run(
        """
        from polyroute.ledger import LedgerRow, SQLiteLedger

        ledger = SQLiteLedger("usage.db")
        for i in range(2000):
            ledger.record(LedgerRow(f"pr-{i}", 1.7e9 + i, "m", "p", "x", "success"))
        # no flush, no close: the interpreter's exit flushes
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "usage.db") as conn:
        assert conn.execute("SELECT count(*) FROM polyroute_usage").fetchone()[0] == 2000


def test_ledger_true_uses_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sim: ProviderSimulator
) -> None:
    monkeypatch.setenv("POLYROUTE_DATA_DIR", str(tmp_path / "data"))
    p = sim.add_provider("a")
    config = {
        "providers": {"a": {"base_url": p.base_url}},
        "models": {"m": {"endpoints": [endpoint("a")]}},
        "ledger": True,
    }
    with polyroute.Router.from_config(config) as router:
        assert isinstance(router.ledger, SQLiteLedger)
        assert router.ledger.path == tmp_path / "data" / "usage.db"
        router.completion(model="m", messages=USER)
    assert len(list(SQLiteLedger(tmp_path / "data" / "usage.db").rows())) == 1


def test_no_ledger_unless_configured(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    assert make_router({"m": [endpoint("a")]}).ledger is None


def test_default_path_is_the_user_data_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv("POLYROUTE_DATA_DIR", raising=False)
    path = default_ledger_path()
    assert path == Path(platformdirs.user_data_dir("polyroute", appauthor=False)) / "usage.db"


def test_relative_sqlite_url_is_next_to_the_config(tmp_path: Path) -> None:
    import yaml

    config = tmp_path / "conf" / "polyroute.yaml"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump({"ledger": {"url": "sqlite:///ledger/usage.db"}}))
    with polyroute.Router.from_config(config) as router:
        assert isinstance(router.ledger, SQLiteLedger)
        assert router.ledger.path == tmp_path / "conf" / "ledger" / "usage.db"


@pytest.mark.parametrize(
    ("ledger_config", "path", "message"),
    [
        ({"url": "postgresql://admin:hunter2@db/x"}, "ledger.url", "must come from the environment"),
        ({"url": "mysql://db/x"}, "ledger.url", "must be sqlite"),
        ({"queue_size": 0}, "ledger.queue_size", "greater than or equal to 1"),
        ({"durability": "eventually"}, "ledger.durability", "normal"),
        ({"schema": "bad name"}, "ledger.schema", "pattern"),
    ],
)
def test_ledger_config_errors(ledger_config: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(polyroute.ConfigError) as info:
        polyroute.Router.from_config({"ledger": ledger_config})
    assert info.value.path == path
    assert message in str(info.value)
    assert "hunter2" not in str(info.value)


def test_a_ledger_that_cannot_be_opened_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(polyroute.ConfigError) as info:
        polyroute.Router.from_config({"ledger": {"url": str(blocker / "usage.db")}})
    assert info.value.path == "ledger.url"


def test_postgres_password_never_shows(postgres_url: str, postgres_schema: str) -> None:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(postgres_url)
    netloc = f"{parts.username or 'postgres'}:s3cret@{parts.hostname}:{parts.port or 5432}"
    with_password = urlunsplit(parts._replace(netloc=netloc))  # trust auth ignores the password
    ledger = PostgresLedger(with_password, schema=postgres_schema)
    try:
        assert "s3cret" not in repr(ledger) and "s3cret" not in ledger.url
        assert ":***@" in ledger.url
    finally:
        ledger.close()


def test_postgres_migrations_run_once_for_many_instances(postgres_url: str, postgres_schema: str) -> None:
    import psycopg

    first = PostgresLedger(postgres_url, schema=postgres_schema)
    second = PostgresLedger(postgres_url, schema=postgres_schema)
    first.record(row(1))
    second.record(row(2))
    first.close()
    second.close()
    with psycopg.connect(postgres_url) as conn:
        versions = conn.execute(f'SELECT version FROM "{postgres_schema}".polyroute_migrations ORDER BY 1').fetchall()
        count = conn.execute(f'SELECT count(*) FROM "{postgres_schema}".polyroute_usage').fetchone()
    assert [v for (v,) in versions] == sorted(m.version for m in MIGRATIONS)
    assert count == (2,)


def test_postgres_ledger_from_config(postgres_url: str, postgres_schema: str, sim: ProviderSimulator) -> None:
    p = sim.add_provider("a")
    config = {
        "providers": {"a": {"base_url": p.base_url}},
        "models": {"m": {"endpoints": [endpoint("a")]}},
        "ledger": {"url": "${LEDGER_URL}", "schema": postgres_schema},
    }
    with polyroute.Router.from_config(config, env={"LEDGER_URL": postgres_url}) as router:
        assert isinstance(router.ledger, PostgresLedger)
        route = router.completion(model="m", messages=USER, user="bob").route
    reader = PostgresLedger(postgres_url, schema=postgres_schema)
    (stored,) = reader.rows()
    reader.close()
    assert route is not None
    assert (stored.user, stored.request_id, stored.cost) == ("bob", route.request_id, route.cost)


def test_a_postgres_ledger_hands_the_router_its_budget_store_and_keeps_its_password(
    postgres_url: str,
    postgres_schema: str,
    sim: ProviderSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from urllib.parse import urlsplit, urlunsplit

    from polyroute.budgets import PostgresBudgetStore
    from polyroute.ledger._schema import SPEND_TABLE

    parts = urlsplit(postgres_url)
    netloc = f"{parts.username or 'postgres'}:s3cret-budget@{parts.hostname}:{parts.port or 5432}"
    with_password = urlunsplit(parts._replace(netloc=netloc))  # trust auth ignores the password
    handed: list[PostgresBudgetStore] = []
    budget_store = PostgresLedger.budget_store

    def recorded(self: PostgresLedger, *, pool_size: int = 8) -> PostgresBudgetStore:
        handed.append(budget_store(self, pool_size=pool_size))
        return handed[-1]

    monkeypatch.setattr(PostgresLedger, "budget_store", recorded)
    p = sim.add_provider("a")
    config = {
        "providers": {"a": {"base_url": p.base_url}},
        "models": {"m": {"endpoints": [endpoint("a")]}},
        "ledger": {"url": "${LEDGER_URL}", "schema": postgres_schema},
        "budgets": [{"scope": "user", "match": "*", "limit_usd": "1", "period": "total"}],
    }
    with caplog.at_level("DEBUG"), polyroute.Router.from_config(config, env={"LEDGER_URL": with_password}) as router:
        assert router.budgets is not None and [router.budgets.store] == handed  # the ledger's own seam
        store = handed[0]
        assert store.schema == postgres_schema
        assert "s3cret-budget" not in repr(store) and "s3cret-budget" not in repr(router.ledger)
        route = router.completion(model="m", messages=USER, user="bob").route
        assert route is not None and route.cost
        ledger = router.ledger
        assert isinstance(ledger, PostgresLedger)
        reader = ledger.connect_reader()
        try:
            (spent,) = reader.execute(f"SELECT sum(spent) FROM {SPEND_TABLE}").fetchone()
        finally:
            reader.close()
    assert spent == route.cost  # the counters are in the ledger's database and schema
    assert "s3cret-budget" not in caplog.text


def test_an_sqlite_ledger_hands_out_a_budget_store_in_its_file(tmp_path: Path) -> None:
    from polyroute.budgets import SQLiteBudgetStore

    ledger = SQLiteLedger(tmp_path / "usage.db")
    store = ledger.budget_store(pool_size=2)
    try:
        assert isinstance(store, SQLiteBudgetStore) and store.path == ledger.path
    finally:
        store.close()
        ledger.close()
