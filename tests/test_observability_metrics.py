"""Prometheus metrics, read back through prometheus-client's own text exposition and parser."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.routing_support import USER, config, ep, routed

import polyroute
from polyroute.testing import ErrorReply, FakeClock, ProviderSimulator, Reply

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from polyroute.observability.prometheus import PrometheusObserver, exposition, serve  # noqa: E402

ORDERED = {"provider": {"sort": "ordered"}}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, by name and labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def test_the_metrics_match_the_route_exactly() -> None:
    registry = CollectorRegistry()
    cached = {"prompt_tokens": 40, "completion_tokens": 12, "prompt_tokens_details": {"cached_tokens": 30}}
    reasoning = {"completion_tokens_details": {"reasoning_tokens": 7}}
    with routed(
        {"m": [ep("a", 3.0), ep("b", 7.0)]}, router=ORDERED, observers=[PrometheusObserver(registry=registry)]
    ) as (router, sim, _):
        sim.provider("a").set_default(ErrorReply(503, latency=0.125))
        sim.provider("b").set_default(Reply(text="the answer", latency=0.5, usage={**cached, **reasoning}))
        route = router.completion(model="m", messages=USER).route
        stream = router.completion(model="m", messages=USER, stream=True)
        list(stream)
        streamed = stream.route
    assert route is not None and streamed is not None
    found = samples(generate_latest(registry).decode())
    b = {"model": "m", "provider": "b", "endpoint": "b/b-model"}
    a = {"model": "m", "provider": "a", "endpoint": "a/a-model"}
    assert value(found, "polyroute_calls_total", **b, outcome="success", error_type="") == 2
    assert value(found, "polyroute_attempts_total", **a, outcome="error", error_type="ServerError") == 2
    assert value(found, "polyroute_attempts_total", **b, outcome="success", error_type="") == 2
    served = [route.attempts[1], streamed.attempts[1]]
    assert value(found, "polyroute_tokens_total", **b, kind="input") == sum(x.usage.prompt_tokens for x in served)  # type: ignore[union-attr]
    assert value(found, "polyroute_tokens_total", **b, kind="output") == 24
    assert value(found, "polyroute_tokens_total", **b, kind="cached_input") == 60
    assert value(found, "polyroute_tokens_total", **b, kind="reasoning") == 14
    # each call adds its cost exactly (as the float nearest the Decimal total)
    assert value(found, "polyroute_cost_usd_total", **b) == float(route.cost) + float(streamed.cost)  # type: ignore[arg-type]
    assert route.cost == served[0].cost and streamed.cost == served[1].cost
    assert value(found, "polyroute_cost_usd_total", **a) == 0  # failures without usage cost nothing
    assert (
        value(found, "polyroute_call_duration_seconds_sum", **b, outcome="success")
        == route.latency_s + streamed.latency_s
    )
    assert value(found, "polyroute_call_duration_seconds_count", **b, outcome="success") == 2
    assert value(found, "polyroute_attempt_duration_seconds_sum", **a, outcome="error") == sum(
        x.attempts[0].latency_s for x in (route, streamed)
    )
    assert value(found, "polyroute_time_to_first_token_seconds_sum", **b) == streamed.attempts[1].ttft_s
    assert value(found, "polyroute_time_to_first_token_seconds_count", **b) == 1
    assert value(found, "polyroute_output_tokens_per_second_count", **b) == 2
    assert value(found, "polyroute_in_flight_attempts", provider="b", endpoint="b/b-model") == 0
    assert value(found, "polyroute_breaker_state", provider="a", endpoint="a/a-model") == 0


def test_an_open_breaker_and_a_failed_call() -> None:
    registry = CollectorRegistry()
    settings = {**ORDERED, "breaker": {"failure_threshold": 1}}
    with routed({"m": [ep("a")]}, router=settings, observers=[PrometheusObserver(registry=registry)]) as (
        router,
        sim,
        _,
    ):
        sim.provider("a").set_default(ErrorReply(500))
        with pytest.raises(polyroute.NoEndpointAvailable):
            router.completion(model="m", messages=USER)
        with pytest.raises(polyroute.NoEndpointAvailable):
            router.completion(model="m", messages=USER)  # skipped: the circuit is open
    found = samples(generate_latest(registry).decode())
    a = {"model": "m", "provider": "a", "endpoint": "a/a-model"}
    assert value(found, "polyroute_breaker_state", provider="a", endpoint="a/a-model") == 2
    assert value(found, "polyroute_calls_total", **a, outcome="error", error_type="NoEndpointAvailable") == 2
    assert value(found, "polyroute_attempts_total", **a, outcome="skipped", error_type="CircuitOpen") == 1
    assert value(found, "polyroute_attempts_total", **a, outcome="error", error_type="ServerError") == 1


def test_budget_remaining_per_rule() -> None:
    registry = CollectorRegistry()
    clock = FakeClock()
    with ProviderSimulator(clock=clock) as sim:
        cfg = config(sim, {"m": [ep("a", 1.0)]})
        cfg["budgets"] = [
            {"scope": "project", "match": "search", "limit_usd": "1", "period": "month"},
            {"scope": "user", "match": "*", "limit_usd": "1", "period": "day"},  # one balance per user: not a series
        ]
        observer = PrometheusObserver(registry=registry)
        with polyroute.Router.from_config(cfg, clock=clock, observers=[observer]) as router:
            observer.watch(router)
            before = samples(generate_latest(registry).decode())
            route = router.completion(model="m", messages=USER, project="search", user="alice").route
            after = samples(generate_latest(registry).decode())
    labels = {"rule": "project:search:month", "scope": "project", "period": "month"}
    assert value(before, "polyroute_budget_remaining_usd", **labels) == 1.0
    assert value(after, "polyroute_budget_remaining_usd", **labels) == float(Decimal(1) - route.cost)  # type: ignore[operator]
    assert not any("alice" in str(k) for k in after)


def test_exposition_serves_the_default_registry() -> None:
    body, content_type = exposition()
    assert content_type.startswith("text/plain")
    assert isinstance(body, bytes)


def test_serve_exposes_metrics_over_http() -> None:
    registry = CollectorRegistry()
    with routed({"m": [ep("a")]}, observers=[PrometheusObserver(registry=registry)]) as (router, _, _):
        router.completion(model="m", messages=USER)
    server, thread = serve(0, registry=registry)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    found = samples(text)
    assert (
        value(
            found,
            "polyroute_calls_total",
            model="m",
            provider="a",
            endpoint="a/a-model",
            outcome="success",
            error_type="",
        )
        == 1
    )


_WORKER = textwrap.dedent(
    """
    import sys
    from tests.routing_support import USER, ep, routed
    from polyroute.observability import PrometheusObserver

    with routed({"m": [ep("a")]}, observers=[PrometheusObserver()]) as (router, _, _):
        for _ in range(int(sys.argv[1])):
            router.completion(model="m", messages=USER)
    """
)

_READER = textwrap.dedent(
    """
    from polyroute.observability.prometheus import exposition

    body, _ = exposition()
    print(body.decode())
    """
)


def test_multiprocess_mode_adds_up_every_process(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    root = Path(__file__).resolve().parent.parent
    for n in (2, 3):
        subprocess.run([sys.executable, "-c", _WORKER, str(n)], env=env, cwd=root, check=True, timeout=120)
    out = subprocess.run(
        [sys.executable, "-c", _READER], env=env, cwd=root, check=True, timeout=120, capture_output=True, text=True
    ).stdout
    found = samples(out)
    a: dict[str, Any] = {"model": "m", "provider": "a", "endpoint": "a/a-model"}
    assert value(found, "polyroute_calls_total", **a, outcome="success", error_type="") == 5
    assert value(found, "polyroute_attempts_total", **a, outcome="success", error_type="") == 5
    assert value(found, "polyroute_call_duration_seconds_count", **a, outcome="success") == 5
    assert value(found, "polyroute_in_flight_attempts", provider="a", endpoint="a/a-model") == 0


def test_import_polyroute_imports_neither_library() -> None:
    code = (
        "import sys, polyroute, polyroute.observability; "
        "bad = [m for m in ('opentelemetry', 'prometheus_client') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_cli_serves_and_shows_what_the_processes_recorded(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "COLUMNS": "200"}
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", _WORKER, "2"], env=env, cwd=root, check=True, timeout=120)
    cli = [sys.executable, "-m", "polyroute", "metrics"]
    shown = subprocess.run([*cli, "show"], env=env, check=True, timeout=120, capture_output=True, text=True).stdout
    a = {"model": "m", "provider": "a", "endpoint": "a/a-model", "outcome": "success", "error_type": ""}
    assert value(samples(shown), "polyroute_calls_total", **a) == 2
    server = subprocess.Popen([*cli, "serve", "--port", "0"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line
        with urllib.request.urlopen(line.split()[1], timeout=10) as resp:
            assert value(samples(resp.read().decode()), "polyroute_calls_total", **a) == 2
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_cli_needs_the_metrics_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    done = subprocess.run(
        [sys.executable, "-m", "polyroute", "metrics", "show"],
        env=env,
        timeout=120,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "PROMETHEUS_MULTIPROC_DIR" in done.stderr
