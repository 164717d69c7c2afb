"""The command line, run in-process."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from polyroute.cli import _chat, _demo, _models, app  # noqa: F401  (registers the commands)
from polyroute.testing import ErrorReply, ProviderSimulator

runner = CliRunner()


def _config(tmp_path: Path, sim: ProviderSimulator) -> Path:
    a = sim.add_provider("alpha")
    b = sim.add_provider("beta")
    cfg = {
        "providers": {"alpha": {"base_url": a.base_url}, "beta": {"base_url": b.base_url}},
        "models": {
            "m": {
                "endpoints": [
                    {
                        "provider": "alpha",
                        "model": "alpha-1",
                        "pricing": {"prompt": 1e-6, "completion": 2e-6},
                        "context_length": 8192,
                    },
                    {"provider": "beta", "model": "beta-1", "pricing": {"prompt": 3e-6, "completion": 4e-6}},
                ]
            }
        },
        "router": {"retry": {"max_retries": 0}, "provider": {"sort": "price"}},
    }
    path = tmp_path / "polyroute.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_demo_runs_on_embedded_defaults() -> None:
    result = runner.invoke(app, ["demo", "--requests", "16", "--concurrency", "4"])
    assert result.exit_code == 0, result.output
    assert "16/16 requests succeeded" in result.output
    assert "flaky-cloud" in result.output and "premium-ai" in result.output


def test_models_lists_endpoints_and_prices(tmp_path: Path, sim: ProviderSimulator) -> None:
    result = runner.invoke(app, ["models", "--config", str(_config(tmp_path, sim))])
    assert result.exit_code == 0, result.output
    assert "alpha-1" in result.output and "beta-1" in result.output
    assert "$1" in result.output and "8,192" in result.output


def test_chat_prints_reply_route_and_cost(tmp_path: Path, sim: ProviderSimulator) -> None:
    path = _config(tmp_path, sim)
    sim.provider("alpha").set_default(ErrorReply(503))
    result = runner.invoke(app, ["chat", "hi", "-m", "m", "-c", str(path)])
    assert result.exit_code == 0, result.output
    assert "Hello from beta" in result.output
    assert "served by beta" in result.output
    assert "ServerError" in result.output


def test_chat_streams(tmp_path: Path, sim: ProviderSimulator) -> None:
    result = runner.invoke(app, ["chat", "hi", "-m", "m", "-c", str(_config(tmp_path, sim)), "--stream"])
    assert result.exit_code == 0, result.output
    assert "Hello from alpha" in result.output


def test_config_error_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: {x: {base_url: nope}}")
    result = runner.invoke(app, ["models", "--config", str(bad)])
    assert result.exit_code == 2
    assert "providers.x.base_url" in result.output


def test_failed_call_exit_code(tmp_path: Path, sim: ProviderSimulator) -> None:
    path = _config(tmp_path, sim)
    sim.provider("alpha").set_default(ErrorReply(503))
    sim.provider("beta").set_default(ErrorReply(503))
    result = runner.invoke(app, ["chat", "hi", "-m", "m", "-c", str(path)])
    assert result.exit_code == 1
    assert "NoEndpointAvailable" in result.output
