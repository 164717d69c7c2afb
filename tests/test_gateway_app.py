"""The gateway application: health endpoints, the admin login link, the dashboard hook."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from tests.conftest import config_for, endpoint

import polyroute
from polyroute.gateway import CONTEXT, GatewaySettings, create_app
from polyroute.testing import ProviderSimulator

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
