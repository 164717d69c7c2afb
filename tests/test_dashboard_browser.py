"""The dashboard in a real headless browser (Debian's Chromium, driven by Playwright).

The ledger is filled by real routed calls against the loopback simulator; the page must show
the ledger's numbers (totals, the leaderboard, each bar of the spend chart, the last calls) and
the router's live statistics, draw its SVG charts, load nothing from anywhere but the gateway,
and fit a 1366x768 laptop screen. Set ``POLYROUTE_DASHBOARD_SCREENSHOT=path.png`` to also save a
screenshot (that is how ``docs/assets/dashboard.png`` is made).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from dashboard_support import ADMIN_KEY, populated, serving
from polyroute.gateway import CONTEXT, GatewayContext

CHROMIUM = os.environ.get("POLYROUTE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None

MISSING = (
    "playwright is not installed (pip install playwright)"
    if sync_playwright is None
    else "no Chromium: install Debian's package (apt-get install chromium) or set POLYROUTE_CHROMIUM"
    if CHROMIUM is None
    else None
)
if MISSING and os.environ.get("POLYROUTE_REQUIRE_BROWSER"):  # CI: a missing browser is a failure, not a skip
    raise RuntimeError(f"POLYROUTE_REQUIRE_BROWSER is set but {MISSING}")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

DAYS = 7


def dollars(amount: Decimal) -> str:
    """How the page shows money: the exact decimal, trailing zeros dropped, at least two decimals."""
    text = format(amount.normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}" if text != "0" else "$0.00"


def spend(row: Any) -> Decimal:
    return (row.cost or Decimal(0)) + (row.fee or Decimal(0))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert sync_playwright is not None and CHROMIUM is not None
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayContext, str]]:
    """The gateway (``create_app``, which installs the dashboard) over the scenario's router."""
    with populated(tmp_path_factory.mktemp("dashboard")) as scenario:
        app = scenario.app()
        with serving(app) as base:
            yield app[CONTEXT], base


def _open(browser: Browser, base: str) -> tuple[Page, list[str], list[str]]:
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(base)
    return page, requested, problems


def _sign_in(page: Page) -> None:
    page.wait_for_selector("body[data-state=signin]")
    page.fill("#signin-key", ADMIN_KEY)
    page.click("#signin-form button")
    page.wait_for_selector("body[data-state=ready]")


def test_the_page_shows_the_ledger_and_draws_its_charts(
    browser: Browser, dashboard: tuple[GatewayContext, str]
) -> None:
    from polyroute.gateway.dashboard._data import window_start
    from polyroute.reports import daily_spend, summarize

    context, base = dashboard
    now = context.router.clock.time()
    rows = list(context.ledger.rows(since=window_start(now, DAYS)))
    assert len(rows) > 50

    # the one-time login link `serve` prints: it sets the admin cookie and sends the browser to /
    page, requested, problems = _open(browser, base + "login?token=" + context.admin.login_token())
    page.wait_for_selector("body[data-state=ready]")
    assert page.url == base

    # totals
    [total] = summarize(rows, ())
    calls = {r.request_id for r in rows}
    assert page.text_content("#kpi-spend") == dollars(total.cost + total.fee)
    assert page.text_content("#kpi-requests") == f"{len(calls):,}"
    assert page.text_content("#kpi-tokens") == f"{total.total_tokens:,}"
    assert page.text_content("#kpi-attempts") == f"{total.attempts:,}"

    # the leaderboard: every model, by tokens, with its requests and cost
    by_model = summarize(rows, ["model"])
    ranked = sorted(by_model, key=lambda t: (-t.total_tokens, t.group))
    shown = page.eval_on_selector_all("#leaderboard tbody tr", "trs => trs.map(tr => tr.dataset.model)")
    assert shown == [t.group[0] for t in ranked]
    for t in ranked:
        row = f'#leaderboard tr[data-model="{t.group[0]}"]'
        assert page.text_content(f"{row} .tokens") == f"{t.total_tokens:,}"
        assert page.text_content(f"{row} .requests") == f"{t.requests:,}"
        assert page.text_content(f"{row} .cost") == dollars(t.cost)
    assert page.locator("#leaderboard .sharebar rect").count() == 2 * len(ranked)

    # the spend chart: one SVG rect per (day, provider) with spend, titled with the exact amount
    for by, tab in (("provider", "Provider"), ("model", "Model")):
        page.click(f"#spend-by button[data-by={by}]")
        assert page.get_attribute(f"#spend-by button[data-by={by}]", "aria-pressed") == "true", tab
        expected = {
            f"{day} · {name}: {dollars(amount)}"
            for day, amounts in daily_spend(rows, by=by).items()
            for name, amount in amounts.items()
            if amount > 0
        }
        titles = page.eval_on_selector_all("#spend-chart .bars rect title", "ts => ts.map(t => t.textContent)")
        assert set(titles) == expected
        heights = page.eval_on_selector_all(
            "#spend-chart .bars rect", "rs => rs.map(r => r.getBoundingClientRect().height)"
        )
        assert heights and all(h > 0 for h in heights)
        assert page.locator("#spend-chart .axis text").count() >= 4  # y ticks and day labels

    # by key: names from the key store, a fingerprint for the key without a name, never a key
    page.click("#spend-by button[data-by=key]")
    legend = page.eval_on_selector_all("#spend-legend li", "lis => lis.map(li => li.dataset.series)")
    assert set(legend) >= {"research", "support"}
    assert any(name.startswith("key:") for name in legend)
    assert "sk-" not in page.content()

    # the live endpoints table is the router's statistics
    stats = context.router.stats()
    keys = page.eval_on_selector_all("#endpoints tbody tr", "trs => trs.map(tr => tr.dataset.key)")
    assert keys == sorted(stats)
    for key, s in stats.items():
        row = f'#endpoints tr[data-key="{key}"]'
        assert page.text_content(f"{row} .breaker") == s.breaker.replace("_", "-")
        assert page.text_content(f"{row} .attempts") == f"{s.windows['5m'].attempts:,}"
    assert {s.breaker for s in stats.values()} != {"closed"}, "the scenario opens a breaker"

    # the last calls: newest first, with their route, attempts and cost
    grouped: dict[str, list[Any]] = {}
    for r in rows:
        grouped.setdefault(r.request_id, []).append(r)
    newest = sorted(grouped, key=lambda rid: max(r.started_at for r in grouped[rid]), reverse=True)
    shown_calls = page.eval_on_selector_all(
        "#calls tbody tr",
        """trs => trs.map(tr => ({
            id: tr.dataset.id,
            cost: tr.querySelector('.cost').textContent,
            attempts: tr.querySelector('.attempts').textContent,
            hops: [...tr.querySelectorAll('.hop')].map(h => h.textContent),
        }))""",
    )
    assert [c["id"] for c in shown_calls] == newest[:30]
    failed_over = 0
    for call in shown_calls:
        attempts = sorted(grouped[call["id"]], key=lambda r: r.started_at)
        assert call["cost"] == dollars(sum((spend(a) for a in attempts), Decimal(0)))
        assert call["attempts"] == str(sum(1 for a in attempts if a.outcome != "skipped"))
        hops = call["hops"]
        assert [h.split()[0] for h in hops] == [a.provider for a in attempts]
        if len(attempts) > 1 and attempts[-1].outcome == "success":
            failed_over += 1
            assert hops[0].endswith("503") and hops[-1].endswith("✓")
    assert failed_over >= 1

    # offline: nothing but the gateway was asked for anything; no script errors; fits the screen
    assert requested and all(url.startswith(base) for url in requested), requested
    assert [p for p in problems if "401" not in p] == []  # the 401s are the sign-in prompt
    size = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    assert size[0] <= 1366 and size[1] <= 768, size

    page.click("#spend-by button[data-by=provider]")
    shot = os.environ.get("POLYROUTE_DASHBOARD_SCREENSHOT")
    if shot:
        page.screenshot(path=shot)

    # what a 1366x768 laptop leaves for the page under the browser's own bars: still no page scroll
    page.set_viewport_size({"width": 1366, "height": 650})
    page.wait_for_function(  # the chart redraws to its new size
        "() => { const s = document.getElementById('spend-chart');"
        " return Number(s.getAttribute('viewBox').split(' ')[3]) === Math.max(s.clientHeight, 120); }"
    )
    size = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    assert size[0] <= 1366 and size[1] <= 650, size
    assert page.locator("#spend-chart .bars rect").count() > 0
    page.close()


def test_the_live_table_refreshes_and_a_wrong_key_is_refused(
    browser: Browser, dashboard: tuple[GatewayContext, str]
) -> None:
    context, base = dashboard
    page, _, problems = _open(browser, base)
    page.wait_for_selector("body[data-state=signin]")
    page.fill("#signin-key", "not-the-admin-key")
    page.click("#signin-form button")
    page.wait_for_selector("#signin-error:not([hidden])")
    assert page.is_hidden("#main")

    _sign_in(page)
    # a call made now shows up in the endpoints table within a few seconds, with no reload
    key = "groq/llama-3.3-70b-versatile"
    before = int(page.text_content(f'#endpoints tr[data-key="{key}"] .attempts') or "0")
    context.router.completion(model="llama-3.3-70b", messages=[{"role": "user", "content": "one more"}])
    page.wait_for_function(
        "([key, n]) => Number(document.querySelector(`#endpoints tr[data-key='${key}'] .attempts`)"
        ".textContent.replace(/,/g, '')) > n",
        arg=[key, before],
        timeout=15_000,
    )
    assert [p for p in problems if "401" not in p] == []
    page.close()
