"""For every real OpenRouter response that reports ``usage.cost``, our cost from the same token
counts and that model's OpenRouter prices equals the reported cost exactly (``Decimal`` equality
with the provider's JSON number read as written).

Reads the shared real traffic (``$POLYROUTE_SHARED_DIR/real-traffic``, default ``<repo>/../shared``):
the recorded responses in ``cassettes/openrouter`` and the prices in
``catalogs/openrouter/openrouter_api_v1_models.json``. Skips, saying why, when they are absent.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

import polyroute
from polyroute import Usage
from polyroute.accounting._cost import cost_breakdown
from polyroute.catalog._price_sources import PriceTable, load_openrouter_prices
from polyroute.testing import ProviderSimulator, Reply

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("POLYROUTE_SHARED_DIR") or REPO.parent / "shared") / "real-traffic"
CASSETTES = SHARED / "cassettes" / "openrouter"
CATALOG = SHARED / "catalogs" / "openrouter" / "openrouter_api_v1_models.json"

pytestmark = pytest.mark.skipif(
    not (CASSETTES.is_dir() and CATALOG.is_file()),
    reason=f"shared real traffic not found at {SHARED} (set POLYROUTE_SHARED_DIR to the directory holding real-traffic/)",
)


def _body_text(response: Mapping[str, Any]) -> Any:
    """The response body: parsed JSON (pydantic-ai's ``parsed_body``) or text (gzip undone)."""
    if "parsed_body" in response:
        return response["parsed_body"]
    raw = (response.get("body") or {}).get("string", "")
    if isinstance(raw, bytes):
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        raw = raw.decode("utf-8")
    return raw


def _usages(body: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(model, usage)`` for each usage object in a JSON body or an SSE stream."""
    if isinstance(body, str):
        stripped = body.strip()
        if stripped.startswith("{"):
            yield from _usages(json.loads(stripped))
            return
        for line in body.splitlines():
            if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
                yield from _usages(json.loads(line[5:]))
        return
    if isinstance(body, Mapping) and isinstance(body.get("usage"), Mapping):
        yield str(body.get("model")), body["usage"]


def _reported() -> list[tuple[str, str, Mapping[str, Any]]]:
    found = []
    if not CASSETTES.is_dir():
        return found
    for path in sorted(CASSETTES.rglob("*.yaml")):
        for i, interaction in enumerate(yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]):
            for model, usage in _usages(_body_text(interaction["response"])):
                if "cost" in usage:
                    found.append((f"{path.relative_to(CASSETTES)}[{i}]", model, usage))
    return found


RESPONSES = _reported()


@pytest.fixture(scope="module")
def prices() -> PriceTable:
    return load_openrouter_prices(str(CATALOG))


def test_the_shared_traffic_has_responses_with_cost() -> None:
    assert len(RESPONSES) >= 3


@pytest.mark.parametrize(("where", "model", "usage"), RESPONSES, ids=[r[0] for r in RESPONSES])
def test_our_cost_matches_openrouters(where: str, model: str, usage: Mapping[str, Any], prices: PriceTable) -> None:
    pricing = prices.lookup("openrouter", model)
    assert pricing is not None, f"{model} has no prices in the catalog"
    parsed = Usage.from_dict(usage)
    lines = cost_breakdown(parsed, pricing)
    assert lines is not None
    reported = Decimal(str(usage["cost"]))
    assert lines.cost == reported, f"{where} {model}: ours {lines.cost} != OpenRouter's {reported} ({lines})"
    assert lines.provider_reported == reported
    assert not lines.disagreement
    details = usage.get("cost_details") or {}
    if details.get("upstream_inference_prompt_cost") is not None:
        prompt_side = lines.prompt + lines.cached + lines.cache_write
        assert prompt_side == Decimal(str(details["upstream_inference_prompt_cost"]))
        output_side = lines.completion + lines.reasoning
        assert output_side == Decimal(str(details["upstream_inference_completions_cost"]))


@pytest.mark.parametrize(("where", "model", "usage"), RESPONSES, ids=[r[0] for r in RESPONSES])
def test_routed_call_costs_what_openrouter_charged(
    where: str, model: str, usage: Mapping[str, Any], sim: ProviderSimulator
) -> None:
    """End to end: prices imported from the catalog by the config, usage from a (simulated) reply."""
    provider = sim.add_provider("openrouter")
    provider.set_default(Reply(text="ok", usage=dict(usage)))
    config = {
        "providers": {"openrouter": {"base_url": provider.base_url}},
        "models": {"m": {"endpoints": [{"provider": "openrouter", "model": model}]}},
        "costs": {"sources": [{"openrouter": str(CATALOG)}]},
    }
    with polyroute.Router.from_config(config) as router:
        route = router.completion(model="m", messages=[{"role": "user", "content": "hi"}]).route
    assert route is not None and route.cost == Decimal(str(usage["cost"])), where
    lines = route.attempts[0].cost_breakdown
    assert lines is not None and not lines.disagreement
