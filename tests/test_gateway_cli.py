"""``polyroute keys`` in-process, and the real ``polyroute serve`` as a subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml
from tests.gateway_support import PRICES
from typer.testing import CliRunner

from polyroute.accounting._settings import LedgerSettings
from polyroute.cli import _keys, _serve, app  # noqa: F401  (registers the commands)
from polyroute.gateway import KeyStore
from polyroute.testing import ProviderSimulator, Reply

runner = CliRunner()


def _config(tmp_path: Path, sim: ProviderSimulator) -> Path:
    a = sim.add_provider("a")
    cfg = {
        "providers": {"a": {"base_url": a.base_url}},
        "models": {"m": {"endpoints": [{"provider": "a", "model": "a-1", "pricing": dict(PRICES)}]}},
        "ledger": {"url": str(tmp_path / "usage.db")},
    }
    path = tmp_path / "polyroute.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_keys_commands(tmp_path: Path, sim: ProviderSimulator) -> None:
    cfg = str(_config(tmp_path, sim))
    made = runner.invoke(app, ["keys", "create", "alice", "-c", cfg, "--limit", "25", "--reset", "monthly",
                               "--models", "m", "--providers", "a", "--rpm", "30"])  # fmt: skip
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    store = KeyStore.open(LedgerSettings(url=str(tmp_path / "usage.db")))
    record = store.authenticate(secret)
    assert record is not None and record.models == ("m",) and record.rpm == 30 and record.limit_reset == "monthly"
    listed = runner.invoke(app, ["keys", "list", "-c", cfg])
    assert "alice" in listed.stdout and secret not in listed.stdout and secret[9:] not in listed.stdout
    assert runner.invoke(app, ["keys", "disable", "alice", "-c", cfg]).exit_code == 0
    store.refresh()
    assert store.authenticate(secret).disabled  # type: ignore[union-attr]
    rotated = runner.invoke(app, ["keys", "rotate", record.hash[:10], "-c", cfg])
    new = rotated.stdout.strip().splitlines()[-1]
    store.refresh()
    assert store.authenticate(secret) is None and store.authenticate(new) is not None
    assert runner.invoke(app, ["keys", "delete", "alice", "-c", cfg]).exit_code == 0
    store.refresh()
    assert len(store) == 0
    bad = runner.invoke(app, ["keys", "create", "x", "-c", cfg, "--reset", "hourly"])
    assert bad.exit_code == 2
    assert runner.invoke(app, ["keys", "disable", "nobody", "-c", cfg]).exit_code == 1
    store.close()


def _metrics(url: str, client: httpx.Client | None = None) -> dict[tuple[str, str], float]:
    """``/metrics`` parsed back: ``(sample name, outcome)`` -> value, for model ``m`` at provider ``a``."""
    from prometheus_client.parser import text_string_to_metric_families

    page = (client or httpx).get(url + "/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(page.text):
        for sample in family.samples:
            if (
                sample.labels.get("model") == "m"
                and sample.labels.get("provider") == "a"
                and "outcome" in sample.labels
            ):
                key = (sample.name, sample.labels["outcome"])
                out[key] = out.get(key, 0.0) + sample.value
    return out


@pytest.fixture
def served(tmp_path: Path, sim: ProviderSimulator) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    cfg = str(_config(tmp_path, sim))
    env = {**os.environ, "POLYROUTE_ADMIN_KEY": "adm", "POLYROUTE_DATA_DIR": str(tmp_path)}
    made = subprocess.run([sys.executable, "-m", "polyroute", "keys", "create", "t", "-c", cfg],
                          capture_output=True, text=True, env=env, timeout=60, check=True)  # fmt: skip
    key = made.stdout.strip()
    proc = subprocess.Popen([sys.executable, "-m", "polyroute", "serve", "-c", cfg, "--port", "0"],
                            stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # blocks until the server listens (or exits)
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, line + proc.stderr.read()
        yield found.group(0), key, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_serve_subprocess_serves_the_openai_sdk_and_stops_on_sigterm(
    served: tuple[str, str, subprocess.Popen[str]], sim: ProviderSimulator
) -> None:
    url, key, proc = served
    sim.provider("a").enqueue(Reply(text="from the subprocess"))
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    assert (
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        .choices[0]
        .message.content
        == "from the subprocess"
    )
    assert httpx.get(url + "/api/v1/keys", headers={"Authorization": "Bearer adm"}).status_code == 200
    metrics = _metrics(url)  # on by itself: the prometheus extra is installed here
    assert metrics[("polyroute_calls_total", "success")] == 1
    assert metrics[("polyroute_attempts_total", "success")] == 1
    assert metrics[("polyroute_call_duration_seconds_count", "success")] == 1
    assert proc.stderr is not None
    login = re.search(r"/login\?token=\S+", proc.stderr.readline())
    assert login is not None
    first = httpx.get(url + login.group(0), follow_redirects=False)
    assert first.status_code == 302 and httpx.get(url + login.group(0), follow_redirects=False).status_code == 401
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


@pytest.mark.slow
def test_serve_with_two_workers_shares_the_port(tmp_path: Path, sim: ProviderSimulator) -> None:
    import socket

    cfg = str(_config(tmp_path, sim))
    env = {**os.environ, "POLYROUTE_DATA_DIR": str(tmp_path)}
    key = subprocess.run([sys.executable, "-m", "polyroute", "keys", "create", "t", "-c", cfg],
                         capture_output=True, text=True, env=env, timeout=60, check=True).stdout.strip()  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "polyroute", "serve", "-c", cfg, "--port", str(port), "--workers", "2",
                             "--no-login"], stderr=subprocess.DEVNULL, env=env)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):  # bounded: until a worker listens (spawned workers import polyroute first)
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                threading.Event().wait(0.1)
        served = 0
        for _ in range(10):
            with httpx.Client() as client:  # a new connection each time: the kernel spreads them
                r = client.post(url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                                json={"model": "m", "messages": [{"role": "user", "content": "x"}]})  # fmt: skip
                served += r.status_code == 200
        assert served == 10
        for _ in range(3):  # whichever worker answers reports both workers' calls
            with httpx.Client() as client:
                assert _metrics(url, client)[("polyroute_calls_total", "success")] == 10
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


@pytest.mark.parametrize("metrics", [True, False])
def test_serve_counts_calls_into_metrics_unless_told_not_to(
    tmp_path: Path, sim: ProviderSimulator, metrics: bool
) -> None:
    from polyroute.gateway import GatewayThread
    from polyroute.gateway._serve import ServeOptions, build_app

    model = f"metered-{metrics}"  # the default registry is the process's: a model of its own
    a = sim.ensure_provider("a")
    cfg = {
        "providers": {"a": {"base_url": a.base_url}},
        "models": {model: {"endpoints": [{"provider": "a", "model": "a-1", "pricing": dict(PRICES)}]}},
        "ledger": {"url": str(tmp_path / "usage.db")},
    }
    path = tmp_path / "polyroute.yaml"
    path.write_text(yaml.safe_dump(cfg))
    app, _, keys, _ = build_app(ServeOptions(config=path, metrics=metrics))
    key, _ = keys.create("t")
    with GatewayThread(app) as gw:  # type: ignore[arg-type]
        for _ in range(2):
            r = httpx.post(gw.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                           json={"model": model, "messages": [{"role": "user", "content": "x"}]})  # fmt: skip
            assert r.status_code == 200
        from prometheus_client.parser import text_string_to_metric_families

        calls = [
            s.value
            for family in text_string_to_metric_families(httpx.get(gw.url + "/metrics").text)
            for s in family.samples
            if s.name == "polyroute_calls_total" and s.labels.get("model") == model
        ]
    assert calls == ([2.0] if metrics else [])
