"""The gateway application: health endpoints, the admin login link, the dashboard hook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from tests.conftest import config_for, endpoint

import polyroute
from polyroute.accounting._settings import LedgerSettings
from polyroute.gateway import CONTEXT, GatewaySettings, KeyRecord, KeyStore, create_app
from polyroute.testing import FakeClock, ProviderSimulator

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def client(sim: ProviderSimulator) -> AsyncIterator[TestClient[object, object]]:
    router = polyroute.Router.from_config(config_for(sim, {"m": [endpoint("a")]}))
    app = create_app(router, settings=GatewaySettings(admin_key="adm"), dashboard=False)
    async with TestClient(TestServer(app)) as c:
        yield c
    await router.aclose()


async def test_health_and_readiness(client: TestClient[object, object]) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["models"] == 1


async def test_login_link_sets_an_admin_cookie_once(client: TestClient[object, object]) -> None:
    ctx = client.app[CONTEXT]  # type: ignore[index]
    token = ctx.admin.login_token()
    first = await client.get(f"/login?token={token}", allow_redirects=False)
    assert first.status == 302 and "polyroute_admin" in first.cookies
    second = await client.get(f"/login?token={token}", allow_redirects=False)
    assert second.status == 401


async def test_the_gateway_mounts_under_a_prefix_of_another_app(sim: ProviderSimulator) -> None:
    from aiohttp import web

    router = polyroute.Router.from_config(config_for(sim, {"m": [endpoint("a")]}))
    gateway = create_app(router, settings=GatewaySettings(require_key=False), dashboard=False, close_router=True)
    parent = web.Application()
    parent.add_subapp("/llm", gateway)
    async with TestClient(TestServer(parent, handler_cancellation=True)) as c:
        r = await c.post(
            "/llm/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]}
        )
        assert r.status == 200 and (await r.json())["provider"] == "a"
        assert (await c.get("/llm/v1/models")).status == 200


# -- keys deleted or changed: the credit-limit cache and other workers -----------------------------

CHAT = {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5}


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_the_credit_limit_cache_keeps_no_key_deleted_or_changed_through_the_admin_api(
    sim: ProviderSimulator,
) -> None:
    router = polyroute.Router.from_config(config_for(sim, {"m": [endpoint("a")]}))
    keys = KeyStore.memory()
    gone, gone_record = keys.create("gone", limit=1)
    kept, kept_record = keys.create("kept", limit=1)
    app = create_app(router, keys=keys, settings=GatewaySettings(admin_key="adm"), dashboard=False, close_router=True)
    guard = app[CONTEXT].key_guard
    assert guard is not None
    async with TestClient(TestServer(app)) as c:
        for secret in (gone, kept):
            assert (await c.post("/v1/chat/completions", json=CHAT, headers=_bearer(secret))).status == 200
        assert set(guard._limits) == {gone_record.hash, kept_record.hash}
        admin = _bearer("adm")
        assert (await c.delete(f"/api/v1/keys/{gone_record.hash}", headers=admin)).status == 200
        assert (await c.patch(f"/api/v1/keys/{kept_record.hash}", json={"limit": 2}, headers=admin)).status == 200
        assert (await c.post("/v1/chat/completions", json=CHAT, headers=_bearer(kept))).status == 200
        assert set(guard._limits) == {kept_record.hash}  # the deleted key's entry is gone
        assert guard._limits[kept_record.hash][1].limit_usd == 2  # the changed limit is the one charged
        assert (await c.patch(f"/api/v1/keys/{kept_record.hash}", json={"limit": None}, headers=admin)).status == 200
        assert (await c.post("/v1/chat/completions", json=CHAT, headers=_bearer(kept))).status == 200
        assert guard._limits == {}


async def test_a_key_deleted_by_another_worker_stops_working_within_keys_refresh_seconds(
    sim: ProviderSimulator, tmp_path: Path, clock: FakeClock
) -> None:
    settings = LedgerSettings(url=str(tmp_path / "usage.db"))
    other = KeyStore.open(settings, now=clock.time)  # another worker (or `polyroute keys`) on the same table
    doomed, doomed_record = other.create("doomed", limit=1)
    live, _ = other.create("live", limit=1)
    keys = KeyStore.open(settings, now=clock.time)
    router = polyroute.Router.from_config(config_for(sim, {"m": [endpoint("a")]}))
    app = create_app(
        router, keys=keys, settings=GatewaySettings(keys_refresh_seconds=5.0), dashboard=False, close_router=True
    )
    guard = app[CONTEXT].key_guard
    assert guard is not None
    try:
        async with TestClient(TestServer(app)) as c:

            async def status(secret: str) -> int:
                return (await c.post("/v1/chat/completions", json=CHAT, headers=_bearer(secret))).status

            assert await status(doomed) == 200
            assert doomed_record.hash in guard._limits
            other.delete(doomed_record.hash)
            clock.advance(4.9)
            assert await status(doomed) == 200  # this worker has not re-read the table yet
            clock.advance(0.1)  # keys_refresh_seconds since it last did: the next request re-reads first
            assert await status(doomed) == 401
            assert await status(live) == 200
            assert doomed_record.hash not in guard._limits
    finally:
        other.close()
        keys.close()


# -- the rate limiter holds only keys that exist -------------------------------------------------


async def test_the_rate_limiter_forgets_deleted_keys_but_not_the_rate_of_the_others(
    sim: ProviderSimulator, clock: FakeClock
) -> None:
    router = polyroute.Router.from_config(config_for(sim, {"m": [endpoint("a")]}), clock=clock)
    keys = KeyStore.memory(now=clock.time)
    gone, gone_record = keys.create("gone", rpm=2)
    kept, kept_record = keys.create("kept", rpm=2)
    unlimited, unlimited_record = keys.create("unlimited", rpm=2)
    settings = GatewaySettings(admin_key="adm", keys_refresh_seconds=5.0)
    app = create_app(router, keys=keys, settings=settings, dashboard=False, close_router=True)
    limiter = app[CONTEXT].limiter
    admin = _bearer("adm")
    async with TestClient(TestServer(app)) as c:

        async def status(secret: str) -> int:
            return (await c.post("/v1/chat/completions", json=CHAT, headers=_bearer(secret))).status

        assert [await status(kept) for _ in range(3)] == [200, 200, 429]  # 2 a minute, both taken
        assert await status(gone) == 200
        assert await status(unlimited) == 200
        assert set(limiter._buckets) == {gone_record.hash, kept_record.hash, unlimited_record.hash}
        assert (await c.delete(f"/api/v1/keys/{gone_record.hash}", headers=admin)).status == 200
        patch = await c.patch(f"/api/v1/keys/{unlimited_record.hash}", json={"rpm": None}, headers=admin)
        assert patch.status == 200
        assert await status(kept) == 429  # the table changed here: re-read at once, the rate stays
        assert set(limiter._buckets) == {kept_record.hash}  # nothing left of the deleted key, nor of the rpm removed
        clock.advance(5.0)  # the copy is keys_refresh_seconds old: the next request re-reads the table
        version = keys.version
        assert await status(kept) == 429  # 5 s give back 1/6 of a request: still none left
        assert keys.version != version and set(limiter._buckets) == {kept_record.hash}
        clock.advance(25.0)  # 30 s since the last one was taken at 2 a minute: one more
        assert [await status(kept) for _ in range(2)] == [200, 429]
        assert await status(gone) == 401
        assert set(limiter._buckets) == {kept_record.hash}


# -- the admin API finds a key created by another worker -------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def key_database(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerSettings:
    """The database of the ledger (and keys) two workers share: a SQLite file or a PostgreSQL schema."""
    if request.param == "sqlite":
        return LedgerSettings(url=str(tmp_path / "usage.db"))
    url: str = request.getfixturevalue("postgres_url")
    return LedgerSettings(url=url, schema=request.getfixturevalue("postgres_schema"))


async def test_the_admin_api_changes_a_key_another_worker_created_since_this_one_read_the_table(
    sim: ProviderSimulator, key_database: LedgerSettings, clock: FakeClock
) -> None:
    keys = KeyStore.open(key_database, now=clock.time)
    other = KeyStore.open(key_database, now=clock.time)  # another worker (or `polyroute keys`) on the same table
    router = polyroute.Router.from_config(config_for(sim, {"m": [endpoint("a")]}))
    settings = GatewaySettings(admin_key="adm", keys_refresh_seconds=5.0)
    app = create_app(router, keys=keys, settings=settings, dashboard=False, close_router=True)
    admin = _bearer("adm")
    try:
        async with TestClient(TestServer(app)) as c:

            async def elsewhere(name: str) -> tuple[str, KeyRecord]:
                """A key created by the other worker, which this one has not seen yet."""
                secret, record = other.create(name)
                clock.advance(1.0)  # well within keys_refresh_seconds: this worker has not re-read the table
                assert keys.get(record.hash) is None
                return secret, record

            _, patched = await elsewhere("patched")
            patch = await c.patch(f"/api/v1/keys/{patched.hash}", json={"name": "renamed", "rpm": 5}, headers=admin)
            old, rotated = await elsewhere("rotated")
            rotate = await c.post(f"/api/v1/keys/{rotated.hash}/rotate", headers=admin)
            _, deleted = await elsewhere("deleted")
            delete = await c.delete(f"/api/v1/keys/{deleted.hash}", headers=admin)
            assert [patch.status, rotate.status, delete.status] == [200, 200, 200]
            assert (await patch.json())["data"]["name"] == "renamed"
            new = (await rotate.json())["key"]
            assert (await c.post("/v1/chat/completions", json=CHAT, headers=_bearer(new))).status == 200
            assert (await c.post("/v1/chat/completions", json=CHAT, headers=_bearer(old))).status == 401
            other.refresh()
            changed = other.get(patched.hash)
            assert changed is not None and (changed.name, changed.rpm) == ("renamed", 5)
            assert other.get(deleted.hash) is None
            # a key that exists nowhere: one re-read of the table, then 404
            missing = "0" * 64
            for method, path in (("PATCH", missing), ("POST", f"{missing}/rotate"), ("DELETE", missing)):
                version = keys.version
                r = await c.request(method, f"/api/v1/keys/{path}", json={"name": "x"}, headers=admin)
                assert r.status == 404, (method, path)
                assert keys.version == version + 1, (method, path)
    finally:
        other.close()
        keys.close()
