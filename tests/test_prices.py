"""Price sources: the config, an OpenRouter models document (file or URL), LiteLLM's bundled map."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import polyroute
from polyroute.catalog._price_sources import litellm_price_file, load_litellm_prices, openrouter_price_table
from polyroute.cli import _chat, _demo, _models, _usage, app  # noqa: F401  (registers the commands)

D = Decimal

# A document in the shape of OpenRouter's GET /api/v1/models (written for these tests).
OPENROUTER_DOC: dict[str, Any] = {
    "data": [
        {
            "id": "openai/gpt-5-mini",
            "pricing": {
                "prompt": "0.00000025",
                "completion": "0.000002",
                "request": "0",
                "image": "0",
                "internal_reasoning": "0",
                "input_cache_read": "0.000000025",
            },
        },
        {
            "id": "anthropic/claude-sonnet-4",
            "pricing": {
                "prompt": "0.000003",
                "completion": "0.000015",
                "input_cache_read": "0.0000003",
                "input_cache_write": "0.00000375",
                "image": "0.0048",
            },
        },
        {
            "id": "deep/thinker",
            "pricing": {"prompt": "0.000001", "completion": "0.000002", "internal_reasoning": "0.000003"},
        },
        {"id": "openrouter/auto", "pricing": {"prompt": "-1", "completion": "-1"}},
        {"id": "broken/model", "pricing": {"prompt": "n/a", "completion": "0.1"}},
    ]
}


def _config(sources: list[dict[str, Any]], endpoints: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "providers": {
            "openrouter": {"base_url": "http://127.0.0.1:9/v1"},
            "openai": {"base_url": "http://127.0.0.1:9/v1"},
        },
        "models": {"m": {"endpoints": endpoints}},
        "costs": {"sources": sources},
        **extra,
    }


@pytest.fixture
def or_file(tmp_path: Path) -> Path:
    path = tmp_path / "openrouter-models.json"
    path.write_text(json.dumps(OPENROUTER_DOC))
    return path


def test_openrouter_document_prices_are_exact_decimals() -> None:
    table = openrouter_price_table(OPENROUTER_DOC)
    mini = table.lookup("openrouter", "openai/gpt-5-mini")
    assert mini is not None
    assert (mini.prompt, mini.completion, mini.cache_read) == (D("0.00000025"), D("0.000002"), D("0.000000025"))
    assert mini.reasoning is None  # "0" means reasoning is billed as completion, not free
    assert mini.source == "openrouter"
    sonnet = table.lookup("openrouter", "anthropic/claude-sonnet-4")
    assert sonnet is not None and (sonnet.cache_write, sonnet.image) == (D("0.00000375"), D("0.0048"))
    thinker = table.lookup("x", "deep/thinker")
    assert thinker is not None and thinker.reasoning == D("0.000003")
    assert table.lookup("openrouter", "openrouter/auto") is None  # variable pricing: unknown
    assert table.lookup("openrouter", "broken/model") is None
    assert table.lookup("openrouter", "no/such-model") is None


def test_openrouter_variants() -> None:
    table = openrouter_price_table(OPENROUTER_DOC)
    free = table.lookup("openrouter", "openai/gpt-5-mini:free")
    assert free is not None and (free.prompt, free.completion) == (0, 0)
    nitro = table.lookup("openrouter", "openai/gpt-5-mini:nitro")
    assert nitro is not None and nitro.prompt == D("0.00000025")
    assert table.lookup("openrouter", "openai/gpt-5-mini:thinking") is None
    assert table.lookup("openrouter", "no/such:free") is None


def test_endpoints_without_prices_take_them_from_the_source(or_file: Path) -> None:
    cfg = _config(
        [{"openrouter": str(or_file)}],
        [
            {"provider": "openrouter", "model": "openai/gpt-5-mini"},
            {"provider": "openai", "model": "gpt-5-mini"},  # found as provider/model
            {"provider": "openrouter", "model": "anthropic/claude-sonnet-4", "pricing": {"prompt": 1, "completion": 2}},
            {"provider": "openrouter", "model": "unknown/model"},
        ],
    )
    eps = polyroute.Router.from_config(cfg).catalog.models["m"].endpoints
    assert eps[0].pricing.source == "openrouter" and eps[0].pricing.prompt == D("0.00000025")
    assert eps[1].pricing.source == "openrouter" and eps[1].pricing.completion == D("0.000002")
    assert eps[2].pricing.source == "config" and eps[2].pricing.prompt == 1  # the config wins
    assert not eps[3].pricing.known


def test_relative_price_file_is_read_next_to_the_config(tmp_path: Path, or_file: Path) -> None:
    import yaml

    cfg = _config([{"openrouter": or_file.name}], [{"provider": "openrouter", "model": "openai/gpt-5-mini"}])
    path = tmp_path / "polyroute.yaml"
    path.write_text(yaml.safe_dump(cfg))
    router = polyroute.Router.from_config(path)
    assert router.catalog.models["m"].endpoints[0].pricing.source == "openrouter"


@pytest.fixture
def price_server(or_file: Path) -> Iterator[str]:
    body = or_file.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/api/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_openrouter_prices_from_a_url(price_server: str) -> None:
    cfg = _config(
        [{"openrouter": f"{price_server}/api/v1/models"}], [{"provider": "openrouter", "model": "deep/thinker"}]
    )
    pricing = polyroute.Router.from_config(cfg).catalog.models["m"].endpoints[0].pricing
    assert pricing.source == "openrouter" and pricing.reasoning == D("0.000003")


def test_unreachable_url_is_a_config_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    cfg = _config(
        [{"openrouter": f"http://127.0.0.1:{port}/api/v1/models"}], [{"provider": "openrouter", "model": "x"}]
    )
    with pytest.raises(polyroute.ConfigError) as info:
        polyroute.Router.from_config(cfg)
    assert info.value.path == "costs.sources[0]"
    assert "cannot fetch prices" in str(info.value)


def test_a_silent_server_times_out_instead_of_hanging() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts connections (the kernel does) but never answers
        port = listener.getsockname()[1]
        cfg = _config(
            [{"openrouter": f"http://127.0.0.1:{port}/api/v1/models"}],
            [{"provider": "openrouter", "model": "x"}],
        )
        cfg["costs"]["fetch_timeout"] = 0.05
        with pytest.raises(polyroute.ConfigError, match="cannot fetch prices"):
            polyroute.Router.from_config(cfg)


def test_bad_documents_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"models": []}')
    cfg = _config([{"openrouter": str(bad)}], [{"provider": "openrouter", "model": "x"}])
    with pytest.raises(polyroute.ConfigError, match="no 'data' list"):
        polyroute.Router.from_config(cfg)
    cfg = _config([{"openrouter": str(tmp_path / "missing.json")}], [{"provider": "openrouter", "model": "x"}])
    with pytest.raises(polyroute.ConfigError, match="cannot read prices"):
        polyroute.Router.from_config(cfg)


@pytest.mark.parametrize(
    "source",
    [{}, {"openrouter": "a.json", "litellm": True}, {"litellm": False}, {"other": "x"}],
)
def test_a_source_names_exactly_one_catalog(source: dict[str, Any]) -> None:
    with pytest.raises(polyroute.ConfigError) as info:
        polyroute.Router.from_config(_config([source], [{"provider": "openrouter", "model": "x"}]))
    assert info.value.path.startswith("costs.sources[0]")


def test_litellm_map_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        '{"sample_spec": {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0},'
        ' "my-model": {"input_cost_per_token": 1.5e-06, "output_cost_per_token": 6e-06,'
        ' "cache_read_input_token_cost": 1.5e-07, "output_cost_per_reasoning_token": 0, "litellm_provider": "x"}}'
    )
    cfg = _config([{"litellm": str(path)}], [{"provider": "openai", "model": "my-model"}])
    pricing = polyroute.Router.from_config(cfg).catalog.models["m"].endpoints[0].pricing
    assert pricing.source == "litellm"
    assert (pricing.prompt, pricing.completion, pricing.cache_read) == (D("0.0000015"), D("0.000006"), D("1.5e-7"))
    assert pricing.reasoning is None


@pytest.mark.skipif(litellm_price_file() is None, reason="litellm is not installed: its price map is not available")
def test_litellm_bundled_map_is_read_without_importing_litellm() -> None:
    file = litellm_price_file()
    assert file is not None
    entry = json.loads(file.read_text())["gpt-4o"]
    code = (
        "import sys, polyroute;"
        "r = polyroute.Router.from_config({'providers': {'openai': {'base_url': 'http://127.0.0.1:9/v1'}},"
        " 'models': {'m': {'endpoints': [{'provider': 'openai', 'model': 'gpt-4o'}]}},"
        " 'costs': {'sources': [{'litellm': True}]}});"
        "p = r.catalog.models['m'].endpoints[0].pricing;"
        "print(p.source, p.prompt, p.completion, p.cache_read);"
        "print('litellm imported' if 'litellm' in sys.modules else 'litellm not imported')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    source, prompt, completion, cache_read = out[0].split()
    assert source == "litellm"
    assert D(prompt) == D(str(entry["input_cost_per_token"]))
    assert D(completion) == D(str(entry["output_cost_per_token"]))
    assert D(cache_read) == D(str(entry["cache_read_input_token_cost"]))
    assert out[1] == "litellm not imported"


def test_missing_litellm_is_skipped_gracefully(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert litellm_price_file() is None
    assert load_litellm_prices() is None
    cfg = _config([{"litellm": True}], [{"provider": "openai", "model": "gpt-4o"}])
    assert not polyroute.Router.from_config(cfg).catalog.models["m"].endpoints[0].pricing.known


def test_sources_in_order(or_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "litellm.json"
    other.write_text(
        '{"openai/gpt-5-mini": {"input_cost_per_token": 9e-06, "output_cost_per_token": 9e-06},'
        ' "only-here": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}}'
    )
    cfg = _config(
        [{"openrouter": str(or_file)}, {"litellm": str(other)}],
        [{"provider": "openrouter", "model": "openai/gpt-5-mini"}, {"provider": "openrouter", "model": "only-here"}],
    )
    first, second = polyroute.Router.from_config(cfg).catalog.models["m"].endpoints
    assert first.pricing.source == "openrouter"
    assert second.pricing.source == "litellm"


def test_models_prices_shows_each_price_and_its_source(tmp_path: Path, or_file: Path) -> None:
    import yaml

    cfg = _config(
        [{"openrouter": str(or_file)}],
        [
            {"provider": "openrouter", "model": "anthropic/claude-sonnet-4"},
            {
                "provider": "openai",
                "model": "gpt-x",
                "pricing": {"prompt": "1e-6", "completion": "2e-6", "request": "0.01"},
            },
            {"provider": "openai", "model": "mystery"},
        ],
    )
    path = tmp_path / "polyroute.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(app, ["models", "--prices", "--config", str(path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    sonnet = next(line for line in lines if "claude-sonnet-4" in line)
    assert "$3" in sonnet and "$15" in sonnet and "$0.3" in sonnet and "$3.75" in sonnet and "openrouter" in sonnet
    gptx = next(line for line in lines if "gpt-x" in line)
    assert "config" in gptx and "$0.010000" in gptx
    assert "unknown" in next(line for line in lines if "mystery" in line)
