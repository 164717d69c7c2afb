"""``polyroute route --explain`` and ``polyroute stats``, run in-process."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from polyroute.cli import _route, _stats, app  # noqa: F401  (registers the commands)
from polyroute.testing import ErrorReply, ProviderSimulator

runner = CliRunner()


def _config(tmp_path: Path, sim: ProviderSimulator) -> Path:
    urls = {name: sim.add_provider(name).base_url for name in ("alpha", "beta", "gamma")}
    cfg = {
        "providers": {name: {"base_url": url} for name, url in urls.items()},
        "models": {
            "m": {
                "endpoints": [
                    {"provider": "alpha", "model": "alpha-1", "pricing": {"prompt": 1e-6, "completion": 2e-6},
                     "context_length": 1000},
                    {"provider": "beta", "model": "beta-1", "pricing": {"prompt": 3e-6, "completion": 4e-6},
                     "data_collection": "allow"},
                    {"provider": "gamma", "model": "gamma-1", "pricing": {"prompt": 5e-6, "completion": 6e-6}},
                ]
            }
        },
        "router": {"retry": {"max_retries": 0}},
    }  # fmt: skip
    path = tmp_path / "polyroute.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_route_explain_prints_every_reason(tmp_path: Path, sim: ProviderSimulator) -> None:
    cfg = str(_config(tmp_path, sim))
    result = runner.invoke(
        app,
        ["route", "--explain", "m", "--config", cfg, "--provider", '{"data_collection": "deny", "sort": "price"}',
         "--prompt", "word " * 2000],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "1. gamma · gamma-1 (m) · est. $" in out and "price: lowest cost first" in out
    assert "✗ alpha" in out and "cannot fit its context of 1,000" in out
    assert "✗ beta" in out and "provider.data_collection is 'deny'" in out
    assert "prompt estimated at up to" in out
    assert all(p.requests == [] for p in sim.providers)


def test_route_without_explain_is_a_table_and_json_is_available(tmp_path: Path, sim: ProviderSimulator) -> None:
    cfg = str(_config(tmp_path, sim))
    table = runner.invoke(app, ["route", "m:floor", "--config", cfg])
    assert table.exit_code == 0, table.output
    assert table.output.index("alpha") < table.output.index("beta") < table.output.index("gamma")
    dumped = runner.invoke(app, ["route", "m", "--config", cfg, "--json", "--provider", '{"only": ["beta"]}'])
    data = json.loads(dumped.output)
    assert [c["endpoint"] for c in data["candidates"]] == ["beta/beta-1"]
    assert {e["endpoint"] for e in data["excluded"]} == {"alpha/alpha-1", "gamma/gamma-1"}


def test_route_rejects_bad_preferences(tmp_path: Path, sim: ProviderSimulator) -> None:
    cfg = str(_config(tmp_path, sim))
    result = runner.invoke(app, ["route", "m", "--config", cfg, "--provider", '{"max_price": {"prompt": "x"}}'])
    assert result.exit_code == 2
    assert "provider.max_price.prompt" in result.output
    result = runner.invoke(app, ["route", "m", "--config", cfg, "--provider", '{"only": ["nobody"]}'])
    assert result.exit_code == 1 and "no endpoint can serve" in result.output


def test_stats_measures_with_requests_then_reports(tmp_path: Path, sim: ProviderSimulator) -> None:
    cfg = str(_config(tmp_path, sim))
    sim.provider("alpha").set_default(ErrorReply(503))
    result = runner.invoke(app, ["stats", "--config", cfg, "--requests", "6", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    total = sum(v["windows"]["5m"]["attempts"] for v in data.values())
    assert total >= 6
    assert data["alpha/alpha-1"]["windows"]["5m"]["successes"] == 0


def test_stats_without_measuring_explains_itself(tmp_path: Path, sim: ProviderSimulator) -> None:
    result = runner.invoke(app, ["stats", "--config", str(_config(tmp_path, sim))])
    assert result.exit_code == 0, result.output
    assert "router.stats()" in " ".join(result.output.split())


def test_stats_demo_needs_no_keys() -> None:
    result = runner.invoke(app, ["stats", "--demo", "--requests", "12", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data) == 3
    assert sum(v["windows"]["5m"]["successes"] for v in data.values()) == 12
