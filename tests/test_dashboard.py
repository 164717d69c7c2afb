"""The dashboard's JSON endpoints, assets and figures (the page itself: test_dashboard_browser.py)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import polyroute
from dashboard_support import ADMIN_KEY, UNKNOWN_KEY, Scenario, populated
from polyroute import key_fingerprint
from polyroute.gateway.dashboard import install
from polyroute.gateway.dashboard._app import SUMMARY_TTL
from polyroute.gateway.dashboard._data import money, summarize_aggregate, summary, window_start
from polyroute.ledger import LedgerRow
from polyroute.reports import daily_spend, leaderboard, summarize
from polyroute.testing import FakeClock

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC).timestamp()
DAY = 86400.0


def row(request_id: str, at: float, provider: str, cost: str | None, **kw: Any) -> LedgerRow:
    fields: dict[str, Any] = {
        "request_id": request_id,
        "started_at": at,
        "model": kw.pop("model", "m"),
        "provider": provider,
        "endpoint_model": kw.pop("endpoint_model", f"{provider}-model"),
        "outcome": kw.pop("outcome", "success"),
        "prompt_tokens": kw.pop("prompt_tokens", 10),
        "completion_tokens": kw.pop("completion_tokens", 5),
        "cost": Decimal(cost) if cost is not None else None,
        "latency_s": kw.pop("latency_s", 0.5),
    }
    fields.update(kw)
    return LedgerRow(**fields)


# -- figures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "text"),
    [("0.01639800", "0.016398"), ("3", "3.00"), ("0E-8", "0.00"), ("1.5E-7", "0.00000015"), ("12.1", "12.10")],
)
def test_money_is_the_exact_decimal(amount: str, text: str) -> None:
    assert money(Decimal(amount)) == text


def test_summary_totals_spend_leaderboard_and_calls_come_from_the_rows() -> None:
    rows = [
        row("old", NOON - 9 * DAY, "groq", "5"),  # before the window: left out
        row("a", NOON - 2 * DAY, "groq", "0.10", caller_key="key:aaaa", user="alice"),
        row("b", NOON - DAY, "openai", None, outcome="error", status=503, prompt_tokens=0, completion_tokens=0),
        row("b", NOON - DAY + 1, "azure", "0.25", fee=Decimal("0.01"), caller_key="key:bbbb", model="gpt"),
        row("c", NOON, "mistral", "0.05", model="gpt", completion_tokens=500),
        row("d", NOON + 5, "cohere", "0.02", model="gpt"),
        row("e", NOON + 9, "mistral", None, outcome="skipped", prompt_tokens=0, completion_tokens=0),
    ]
    data = summary(rows, now=NOON + 60, days=7, key_names={"key:aaaa": "research"}, top=3, recent=3)

    assert data["days"][0] == "2026-03-04" and data["days"][-1] == "2026-03-10" and len(data["days"]) == 7
    t = data["totals"]
    assert (t["requests"], t["succeeded"], t["attempts"], t["failed_attempts"]) == (5, 4, 5, 1)
    assert t["spend"] == "0.43" and t["total_tokens"] == 15 + 15 + 510 + 15
    assert t["unpriced"] == 1  # the failed attempt had no usage, so no cost

    by_provider = data["spend"]["provider"]
    # three largest kept (azure 0.26, groq 0.10, mistral 0.05), cohere merged into "other"
    assert [s["name"] for s in by_provider["series"]] == ["azure", "groq", "other"]
    assert by_provider["series"][-1] == {
        "name": "other",
        "total": "0.07",
        "values": ["0.00"] * 6 + ["0.07"],
        "other": True,
    }
    assert by_provider["series"][0]["values"][5] == "0.26"
    assert by_provider["day_totals"] == ["0.00"] * 4 + ["0.10", "0.26", "0.07"]
    assert [s["name"] for s in data["spend"]["key"]["series"]] == ["key:bbbb", "research", "(no key)"]
    assert {s["name"] for s in data["spend"]["user"]["series"]} == {"alice", "(no user)"}

    assert [(e["model"], e["total_tokens"], e["cost"]) for e in data["leaderboard"]] == [
        ("gpt", 15 + 510 + 15, "0.32"),  # b on azure, c, d
        ("m", 15, "0.10"),
    ]

    calls = data["calls"]
    assert [c["id"] for c in calls] == ["e", "d", "c"]
    assert calls[0]["outcome"] == "skipped" and calls[0]["attempts"] == 0 and calls[0]["cost"] == "0.00"
    failover = summary(rows, now=NOON + 60, days=7)["calls"][3]
    assert failover["id"] == "b" and failover["attempts"] == 2 and failover["provider"] == "azure"
    assert [(h["provider"], h["outcome"], h["status"]) for h in failover["route"]] == [
        ("openai", "error", 503),
        ("azure", "success", None),
    ]
    assert failover["cost"] is None  # one attempt is unpriced: no total pretends to be exact


def test_an_empty_ledger_gives_zeros() -> None:
    data = summary([], now=NOON, days=1)
    assert data["totals"]["spend"] == "0.00" and data["totals"]["requests"] == 0
    assert data["leaderboard"] == [] and data["calls"] == []
    assert data["spend"]["model"] == {"series": [], "day_totals": ["0.00"]}


# -- the app ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    with populated(tmp_path_factory.mktemp("dashboard")) as sc:
        yield sc


@pytest_asyncio.fixture
async def client(scenario: Scenario) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(scenario.app())) as c:
        yield c


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/api/v1/dashboard/summary", "/api/v1/dashboard/endpoints"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_KEY}])
async def test_data_needs_the_admin(client: TestClient[Any, Any], path: str, headers: dict[str, str]) -> None:
    reply = await client.get(path, headers=headers)
    assert reply.status == 401
    body = await reply.json()
    assert body["error"]["code"] == 401 and body["error"]["type"] == "authentication_error"
    assert ADMIN_KEY not in await reply.text()


@pytest.mark.asyncio
@pytest.mark.parametrize("days", ["0", "367", "seven", "-1", "1.5"])
async def test_a_bad_window_is_a_400(client: TestClient[Any, Any], days: str) -> None:
    reply = await client.get("/api/v1/dashboard/summary", params={"days": days}, headers=ADMIN)
    assert reply.status == 400
    assert (await reply.json())["error"]["type"] == "invalid_request_error"


@pytest.mark.asyncio
async def test_the_summary_is_the_ledger(client: TestClient[Any, Any], scenario: Scenario) -> None:
    reply = await client.get("/api/v1/dashboard/summary", params={"days": "3"}, headers=ADMIN)
    assert reply.status == 200 and reply.headers["Cache-Control"] == "no-store"
    data = await reply.json()
    now = scenario.router.clock.time()
    rows = list(scenario.router.ledger.rows(since=window_start(now, 3)))
    [total] = summarize(rows, ())
    assert data["ledger"] is True and len(data["days"]) == 3
    assert Decimal(data["totals"]["spend"]) == total.cost + total.fee
    assert data["totals"]["total_tokens"] == total.total_tokens
    for by in ("provider", "model"):
        per_day = daily_spend(rows, by=by)
        for series in data["spend"][by]["series"]:
            for day, value in zip(data["days"], series["values"], strict=True):
                assert Decimal(value) == per_day.get(day, {}).get(series["name"], Decimal(0))
    assert [(e["model"], e["total_tokens"]) for e in data["leaderboard"]] == [
        (e.model, e.total_tokens) for e in leaderboard(rows)
    ]
    assert {s["name"] for s in data["spend"]["key"]["series"]} == {
        "research",  # gateway keys by their name in the key store
        "support",
        key_fingerprint(UNKNOWN_KEY),  # a caller key the store does not know: its fingerprint
    }
    text = await reply.text()
    assert "sk-" not in text and all(secret not in text for secret in scenario.secrets)


@pytest.mark.asyncio
async def test_a_summary_is_reused_for_a_few_seconds(
    client: TestClient[Any, Any], scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polyroute.gateway.dashboard import _app

    monkeypatch.setattr(_app, "TTL_FACTOR", 0.0)  # kept SUMMARY_TTL, however long the reading took
    clock = scenario.router.clock
    assert isinstance(clock, FakeClock)
    first = await (await client.get("/api/v1/dashboard/summary", headers=ADMIN)).json()
    # the sync client (in a thread): an async call would leave a connection pool on this test's loop
    await asyncio.to_thread(
        scenario.router.completion, model="llama-3.3-70b", messages=[{"role": "user", "content": "more"}]
    )
    assert scenario.router.ledger.flush(10)
    again = await (await client.get("/api/v1/dashboard/summary", headers=ADMIN)).json()
    assert again == first
    clock.advance(SUMMARY_TTL)
    fresh = await (await client.get("/api/v1/dashboard/summary", headers=ADMIN)).json()
    assert fresh["totals"]["requests"] == first["totals"]["requests"] + 1


@pytest.mark.asyncio
async def test_endpoints_are_the_live_statistics(client: TestClient[Any, Any], scenario: Scenario) -> None:
    data = await (await client.get("/api/v1/dashboard/endpoints", headers=ADMIN)).json()
    stats = scenario.router.stats()
    assert [e["key"] for e in data["endpoints"]] == sorted(stats)
    for e in data["endpoints"]:
        s = stats[e["key"]]
        assert e["breaker"] == s.breaker and e["in_flight"] == s.in_flight
        for label, w in s.windows.items():
            assert e["windows"][label]["attempts"] == w.attempts
            assert e["windows"][label]["success_ratio"] == w.success_ratio
            assert e["windows"][label]["latency_p50"] == (w.latency.p50 if w.latency else None)


@pytest.mark.asyncio
async def test_the_page_and_its_assets_ship_in_the_package(client: TestClient[Any, Any]) -> None:
    page = await client.get("/")
    html = await page.text()
    assert page.status == 200 and page.content_type == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "{{version}}" not in html and "http://" not in html and "https://" not in html
    for name, kind in [
        ("dashboard.js", "text/javascript"),
        ("chart.js", "text/javascript"),
        ("dashboard.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ]:
        if name != "chart.js":  # imported by dashboard.js
            assert f"dashboard/static/{name}?v=" in html
        reply = await client.get(f"/dashboard/static/{name}")
        assert reply.status == 200 and reply.content_type == kind
        body = await reply.text()
        assert "https://" not in body and "http://" not in body.replace("http://www.w3.org/2000/svg", "")
        cached = await client.get(f"/dashboard/static/{name}", headers={"If-None-Match": reply.headers["ETag"]})
        assert cached.status == 304
    for missing in ["nothing.js", "..%2F_app.py", "index.html"]:
        assert (await client.get(f"/dashboard/static/{missing}")).status == 404


@dataclass
class _NoLedger:
    router: polyroute.Router
    ledger: Any = None

    def check_admin(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {ADMIN_KEY}"


@pytest.mark.asyncio
async def test_without_a_ledger_the_live_table_still_works() -> None:
    cfg = {
        "providers": {"p": {"base_url": "http://127.0.0.1:9/v1"}},
        "models": {"m": {"endpoints": [{"provider": "p", "model": "m"}]}},
    }
    with polyroute.Router.from_config(cfg, clock=FakeClock(start=NOON), rng=random.Random(0)) as router:
        app = web.Application()
        install(app, _NoLedger(router))
        async with TestClient(TestServer(app)) as c:
            data = await (await c.get("/api/v1/dashboard/summary", headers=ADMIN)).json()
            assert data["ledger"] is False and data["totals"]["requests"] == 0
            live = await (await c.get("/api/v1/dashboard/endpoints", headers=ADMIN)).json()
            assert [e["key"] for e in live["endpoints"]] == ["p/m"]


def test_importing_polyroute_does_not_import_the_dashboard() -> None:
    import subprocess
    import sys

    code = "import sys, polyroute; print(any(m.startswith('polyroute.gateway') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the database does the counting ------------------------------------------------------------


def _by_rows(ledger: Any, now: float, days: int) -> dict[str, Any]:
    return summary(ledger.rows(), now=now, days=days)


def _by_database(ledger: Any, now: float, days: int) -> dict[str, Any]:
    from polyroute.gateway.dashboard._queries import aggregate

    return summarize_aggregate(aggregate(ledger, since=window_start(now, days)), now=now, days=days)


@pytest.mark.parametrize("days", [1, 3, 30])
@pytest.mark.parametrize("scan", [2000, 3])
def test_sqlite_aggregates_like_the_rows(
    scenario: Scenario, days: int, scan: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polyroute.gateway.dashboard import _queries

    monkeypatch.setattr(_queries, "_SCAN", scan)  # 3: too few rows to find 30 calls, so it groups them all
    now = scenario.router.clock.time()
    assert _by_database(scenario.router.ledger, now, days) == _by_rows(scenario.router.ledger, now, days)


@pytest.mark.postgres
def test_postgres_aggregates_like_the_rows(scenario: Scenario, postgres_url: str, postgres_schema: str) -> None:
    from polyroute.ledger import PostgresLedger

    pg = PostgresLedger(postgres_url, schema=postgres_schema)
    try:
        for r in scenario.router.ledger.rows():
            pg.record(r)
        assert pg.flush(30)
        now = scenario.router.clock.time()
        for days in (1, 7):
            assert _by_database(pg, now, days) == _by_rows(scenario.router.ledger, now, days)
    finally:
        pg.close()


class _BrokenLedger:
    def rows(self, *, since: float | None = None, until: float | None = None) -> Any:
        raise OSError("database is locked")


@pytest.mark.asyncio
async def test_a_ledger_that_cannot_be_read_is_a_503(caplog: pytest.LogCaptureFixture) -> None:
    cfg = {
        "providers": {"p": {"base_url": "http://127.0.0.1:9/v1"}},
        "models": {"m": {"endpoints": [{"provider": "p", "model": "m"}]}},
    }
    with polyroute.Router.from_config(cfg, clock=FakeClock(start=NOON)) as router:
        app = web.Application()
        install(app, _NoLedger(router, ledger=_BrokenLedger()))  # type: ignore[arg-type]
        async with TestClient(TestServer(app)) as c:
            reply = await c.get("/api/v1/dashboard/summary", headers=ADMIN)
            assert reply.status == 503
            assert (await reply.json())["error"]["code"] == 503
            assert "could not read the ledger" in caplog.text
