"""The gateway driven by the official openai SDK and raw HTTP: responses, streams, errors, keys."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest
from tests.gateway_support import ADMIN, Gateway, running_gateway

from polyroute.ledger import SQLiteLedger
from polyroute.testing import ErrorReply, Hang, ProviderSimulator, Reply

USER = [{"role": "user", "content": "hello"}]


@pytest.fixture
def gw(sim: ProviderSimulator, tmp_path: Path) -> Iterator[Gateway]:
    with running_gateway(sim, tmp_path, max_body_bytes=64 * 1024) as g:
        yield g


def _client(gw: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def _rows(gw: Gateway) -> list[object]:
    ledger = gw.router.ledger
    assert ledger is not None
    ledger.flush()
    return list(SQLiteLedger(gw.ledger_path).rows())


# -- the OpenAI SDK ----------------------------------------------------------------------------


def test_sync_completion_carries_cost_provider_and_route(gw: Gateway) -> None:
    gw.sim.provider("a").enqueue(Reply(text="hi there"))
    raw = _client(gw, gw.key()).chat.completions.with_raw_response.create(model="m", messages=USER)
    resp = raw.parse()
    assert resp.choices[0].message.content == "hi there"
    assert resp.id.startswith("pr-") and resp.model == "m"
    extra = resp.model_extra or {}
    assert extra["provider"] == "a" and extra["route"]["attempts"][0]["outcome"] == "success"
    assert resp.usage is not None
    cost = (resp.usage.model_extra or {})["cost"]
    expected = resp.usage.prompt_tokens * 1e-6 + resp.usage.completion_tokens * 2e-6
    assert cost == pytest.approx(expected)
    assert raw.headers["x-polyroute-request-id"] == resp.id
    assert raw.headers["x-polyroute-route"].startswith("a/a-model; model=m; attempts=1")


def test_failover_is_invisible_and_reported(gw: Gateway) -> None:
    gw.sim.provider("a").enqueue(ErrorReply(500), ErrorReply(500))
    gw.sim.provider("b").enqueue(Reply(text="from b"))
    resp = _client(gw, gw.key()).chat.completions.create(model="m", messages=USER)
    assert resp.choices[0].message.content == "from b"
    route = (resp.model_extra or {})["route"]
    assert [a["provider"] for a in route["attempts"]][-1] == "b" and len(route["attempts"]) >= 2


def test_sync_stream_ends_with_usage_and_cost(gw: Gateway) -> None:
    gw.sim.provider("a").enqueue(Reply(text="streamed text here", chunk_size=4))
    chunks = list(_client(gw, gw.key()).chat.completions.create(model="m", messages=USER, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streamed text here"
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("pr-")
    last = chunks[-1]
    assert last.usage is not None and (last.usage.model_extra or {})["cost"] > 0
    assert (last.model_extra or {})["provider"] == "a"


def test_async_client_plain_and_streaming(gw: Gateway) -> None:
    key = gw.key()
    gw.sim.provider("a").enqueue(Reply(text="one"), Reply(text="two"))

    async def main() -> tuple[str | None, str]:
        async with openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0) as client:
            first = await client.chat.completions.create(model="m", messages=USER)
            stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            return first.choices[0].message.content, text

    assert asyncio.run(main()) == ("one", "two")


def test_api_v1_prefix_and_openrouter_body_extensions(gw: Gateway) -> None:
    gw.sim.provider("b").enqueue(Reply(text="only b"))
    client = openai.OpenAI(base_url=gw.url + "/api/v1", api_key=gw.key(), max_retries=0)
    resp = client.chat.completions.create(
        model="solo",
        messages=USER,
        extra_body={"models": ["m"], "provider": {"only": ["b"]}, "route": "fallback", "session_id": "s1",
                    "usage": {"include": True}, "transforms": []},
        user="u-42",
    )  # fmt: skip
    assert resp.choices[0].message.content == "only b"
    sent = gw.sim.provider("b").requests[-1].json
    assert sent["user"] == "u-42"
    for ours in ("models", "provider", "route", "session_id", "usage", "transforms"):
        assert ours not in sent


# -- errors ------------------------------------------------------------------------------------


def test_bad_and_missing_keys_are_401(gw: Gateway) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        _client(gw, "sk-pr-v1-" + "0" * 64).chat.completions.create(model="m", messages=USER)
    assert info.value.status_code == 401 and "0" * 64 not in str(info.value.body)
    r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "m", "messages": USER})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert gw.sim.provider("a").requests == []


def test_disabled_key_is_refused(gw: Gateway) -> None:
    secret, record = gw.keys.create("bob")
    gw.keys.update(record.hash, disabled=True)
    with pytest.raises(openai.AuthenticationError):
        _client(gw, secret).chat.completions.create(model="m", messages=USER)


def test_invalid_request_is_400_with_param(gw: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _client(gw, gw.key()).chat.completions.create(model="m", messages=USER, temperature=5)
    body = info.value.body
    assert isinstance(body, dict) and body["param"] == "temperature" and body["code"] == 400
    assert gw.sim.provider("a").requests == []


def test_every_endpoint_failing_is_502_with_the_attempts(gw: Gateway) -> None:
    for p in ("a", "b"):
        gw.sim.provider(p).enqueue(*[ErrorReply(500)] * 4)
    r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "m", "messages": USER},
                   headers={"Authorization": f"Bearer {gw.key()}"})  # fmt: skip
    assert r.status_code == 502
    err = r.json()["error"]
    assert err["type"] == "upstream_error" and err["code"] == 502
    assert {a["provider"] for a in err["metadata"]["attempts"]} == {"a", "b"}


def test_every_endpoint_rate_limited_is_429_with_retry_after(gw: Gateway) -> None:
    for p in ("a", "b"):
        gw.sim.provider(p).enqueue(*[ErrorReply(429, retry_after=30)] * 4)
    with pytest.raises(openai.RateLimitError) as info:
        _client(gw, gw.key()).chat.completions.create(model="m", messages=USER)
    assert int(info.value.response.headers["retry-after"]) >= 1


def test_exhausted_credit_is_402_and_nothing_is_sent(gw: Gateway) -> None:
    key = gw.key("poor", limit="0.0000001")
    with pytest.raises(openai.APIStatusError) as info:
        _client(gw, key).chat.completions.create(model="m", messages=USER)
    assert info.value.status_code == 402
    assert isinstance(info.value.body, dict) and info.value.body["type"] == "insufficient_credits"
    assert gw.sim.provider("a").requests == [] and gw.sim.provider("b").requests == []


def test_credit_limit_is_spent_then_refused(gw: Gateway) -> None:
    key = gw.key("some", limit="0.00005")  # a call here reserves up to ~$0.00002 and costs ~$0.00001
    client = _client(gw, key)
    served = refused = 0
    for _ in range(10):
        try:
            client.chat.completions.create(model="solo", messages=USER, max_tokens=5)
            served += 1
        except openai.APIStatusError as exc:
            assert exc.status_code == 402
            refused += 1
    assert served >= 1 and refused >= 1
    info = httpx.get(gw.url + "/api/v1/key", headers={"Authorization": f"Bearer {key}"}).json()["data"]
    assert info["limit"] == pytest.approx(0.00005) and info["usage"] <= 0.00005
    assert info["limit_remaining"] == pytest.approx(0.00005 - info["usage"], abs=1e-12)


def test_rpm_limit_is_429_with_retry_after(gw: Gateway) -> None:
    key = gw.key("slow", rpm=2)
    client = _client(gw, key)
    client.chat.completions.create(model="m", messages=USER)
    client.chat.completions.create(model="m", messages=USER)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=USER)
    assert int(info.value.response.headers["retry-after"]) >= 1
    assert len(gw.sim.provider("a").requests) == 2


def test_model_and_provider_allowlists(gw: Gateway) -> None:
    key = gw.key("narrow", models=["solo"], providers=["b"])
    client = _client(gw, key)
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="m", messages=USER)
    gw.sim.provider("b").enqueue(Reply(text="b it is"))
    wide = _client(gw, gw.key("wide", providers=["b"]))
    assert wide.chat.completions.create(model="m", messages=USER).choices[0].message.content == "b it is"
    assert gw.sim.provider("a").requests == []


def test_body_over_the_limit_is_413_json(gw: Gateway) -> None:
    big = [{"role": "user", "content": "x" * (100 * 1024)}]
    r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "m", "messages": big},
                   headers={"Authorization": f"Bearer {gw.key()}"})  # fmt: skip
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_malformed_json_and_caller_options_are_400(gw: Gateway) -> None:
    auth = {"Authorization": f"Bearer {gw.key()}", "Content-Type": "application/json"}
    r = httpx.post(gw.url + "/v1/chat/completions", content=b"{not json", headers=auth)
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    r = httpx.post(gw.url + "/v1/chat/completions", headers=auth,
                   json={"model": "m", "messages": USER, "caller_key": "someone-else"})  # fmt: skip
    assert r.status_code == 400 and r.json()["error"]["param"] == "caller_key"


# -- a client that leaves ------------------------------------------------------------------------


def test_client_disconnect_mid_stream_cancels_upstream_and_bills_what_was_delivered(gw: Gateway) -> None:
    key = gw.key("leaver")
    gw.sim.provider("a").enqueue(Hang(after_chunks=3, reply=Reply(text="abcdefghijklmnopqrstuvwx", chunk_size=4)))
    with httpx.Client(timeout=10) as client, client.stream(
        "POST", gw.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
        json={"model": "m", "messages": USER, "stream": True},
    ) as resp:  # fmt: skip
        assert resp.status_code == 200
        got = ""
        for line in resp.iter_lines():
            if line.startswith("data: "):
                delta = json.loads(line[6:])["choices"][0]["delta"]
                got += delta.get("content") or ""
            if len(got) >= 12:
                break
    # leaving the block closed the connection mid-stream
    rows = _wait_for_rows(gw, 1)
    row = rows[0]
    assert row.error == "Cancelled" and row.provider == "a"  # type: ignore[attr-defined]
    assert row.completion_tokens >= 4 and row.cost is not None and row.cost > Decimal(0)  # type: ignore[attr-defined]
    assert row.usage_estimated  # type: ignore[attr-defined]
    assert row.caller_key == gw.keys.list()[0].fingerprint  # type: ignore[attr-defined]


def _wait_for_rows(gw: Gateway, n: int) -> list[object]:
    """The ledger rows once there are ``n`` (the cancellation is recorded by the gateway's thread)."""
    for _ in range(200):
        rows = _rows(gw)
        if len(rows) >= n:
            return rows
        asyncio.run(asyncio.sleep(0.01))  # a bounded poll for another thread's work, not a simulated delay
    raise AssertionError(f"expected {n} ledger rows, found {len(_rows(gw))}")


# -- the rest of the API ---------------------------------------------------------------------------


def test_models_in_openrouter_schema(gw: Gateway) -> None:
    models = _client(gw, gw.key()).models.list()
    ids = [m.id for m in models.data]
    assert ids == ["m", "solo"]
    raw = httpx.get(gw.url + "/api/v1/models").json()["data"][0]
    assert raw["pricing"]["prompt"] == "0.000001" and raw["pricing"]["completion"] == "0.000002"
    assert "tools" in raw["supported_parameters"] and raw["architecture"]["input_modalities"] == ["text"]
    assert [e["provider"] for e in raw["endpoints"]] == ["a", "b"]


def test_model_endpoints_have_live_figures(gw: Gateway) -> None:
    _client(gw, gw.key()).chat.completions.create(model="m", messages=USER)
    data = httpx.get(gw.url + "/api/v1/models/m/endpoints").json()["data"]
    a = data["endpoints"][0]
    assert a["provider_name"] == "a" and a["uptime_last_30m"] == 100.0
    assert a["latency_last_30m"]["p50"] > 0 and a["stats"]["breaker"] == "closed"
    assert httpx.get(gw.url + "/api/v1/models/nope/x/endpoints").status_code == 404


def test_generation_from_the_ledger(gw: Gateway) -> None:
    key = gw.key()
    resp = _client(gw, key).chat.completions.create(model="m", messages=USER)
    r = httpx.get(gw.url + "/api/v1/generation", params={"id": resp.id}, headers={"Authorization": f"Bearer {key}"})
    data = r.json()["data"]
    assert data["id"] == resp.id and data["provider_name"] == "a"
    assert data["total_cost"] == pytest.approx((resp.usage.model_extra or {})["cost"])  # type: ignore[union-attr]
    assert data["tokens_completion"] == resp.usage.completion_tokens  # type: ignore[union-attr]
    other = gw.key("other")
    r = httpx.get(gw.url + "/api/v1/generation", params={"id": resp.id}, headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 404


def test_keys_api_needs_the_admin_key_and_follows_openrouter(gw: Gateway) -> None:
    assert httpx.get(gw.url + "/api/v1/keys").status_code == 401
    assert httpx.get(gw.url + "/api/v1/keys", headers={"Authorization": f"Bearer {gw.key()}"}).status_code == 401
    admin = {"Authorization": f"Bearer {ADMIN}"}
    created = httpx.post(gw.url + "/api/v1/keys", headers=admin,
                         json={"name": "ci", "limit": 5, "limit_reset": "daily", "rpm": 60})  # fmt: skip
    assert created.status_code == 201
    body = created.json()
    secret, h = body["key"], body["data"]["hash"]
    assert body["data"]["limit"] == 5 and body["data"]["limit_reset"] == "daily"
    listed = httpx.get(gw.url + "/api/v1/keys", headers=admin).json()["data"]
    assert secret not in json.dumps(listed) and h in [k["hash"] for k in listed]
    patched = httpx.patch(gw.url + f"/api/v1/keys/{h}", headers=admin, json={"disabled": True}).json()["data"]
    assert patched["disabled"] is True
    gw.keys.refresh()
    with pytest.raises(openai.AuthenticationError):
        _client(gw, secret).chat.completions.create(model="m", messages=USER)
    httpx.patch(gw.url + f"/api/v1/keys/{h}", headers=admin, json={"disabled": False})
    rotated = httpx.post(gw.url + f"/api/v1/keys/{h}/rotate", headers=admin).json()
    assert rotated["data"]["hash"] == h and rotated["key"] != secret
    assert httpx.delete(gw.url + f"/api/v1/keys/{h}", headers=admin).status_code == 200
    assert httpx.get(gw.url + f"/api/v1/keys/{h}", headers=admin).status_code == 404
    bad = httpx.post(gw.url + "/api/v1/keys", headers=admin, json={"name": "x", "limit": -3})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"


def test_health_metrics_and_readiness(gw: Gateway) -> None:
    assert httpx.get(gw.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(gw.url + "/readyz").status_code == 200
    m = httpx.get(gw.url + "/metrics")
    assert m.status_code in (200, 404)
    if m.status_code == 404:
        assert "prometheus" in m.json()["error"]["message"]


def test_keys_never_reach_the_ledger_or_logs(gw: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    key = gw.key()
    _client(gw, key).chat.completions.create(model="m", messages=USER)
    with pytest.raises(openai.AuthenticationError):
        _client(gw, key + "x").chat.completions.create(model="m", messages=USER)
    _rows(gw)
    raw = gw.ledger_path.read_bytes() + b"".join(
        p.read_bytes() for p in gw.ledger_path.parent.glob("usage.db*") if p.is_file()
    )
    assert key.encode() not in raw and key[9:].encode() not in raw
    assert key not in caplog.text
