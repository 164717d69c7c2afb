"""Building ChatPolyroute: from a router, a config dict, a YAML path or $POLYROUTE_CONFIG; serializing it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from langchain_core.load import dumpd, load
from langchain_polyroute import ChatPolyroute
from pydantic import ValidationError

import polyroute
from polyroute.testing import SimulatedProvider


async def _served_by(model: ChatPolyroute) -> str:
    try:
        sync = model.invoke("hi").response_metadata["provider"]
        asynchronous = (await model.ainvoke("hi")).response_metadata["provider"]
        assert sync == asynchronous
        return str(sync)
    finally:
        model.close()
        await model.aclose()


async def test_from_a_config_dict(sim_config: dict[str, Any]) -> None:
    assert await _served_by(ChatPolyroute(model="sim-large", config=sim_config)) == "alpha"


async def test_from_a_yaml_path(sim_config: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "polyroute.yaml"
    path.write_text(yaml.safe_dump(sim_config))
    for config in (str(path), path):
        model = ChatPolyroute(model="sim-large", config=config)
        assert model.config == str(path)
        assert await _served_by(model) == "alpha"


async def test_from_the_environment(
    sim_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "polyroute.yaml"
    path.write_text(yaml.safe_dump(sim_config))
    monkeypatch.setenv("POLYROUTE_CONFIG", str(path))
    assert await _served_by(ChatPolyroute(model="sim-mini")) == "beta"


def test_a_given_router_wins_over_the_environment(
    router: polyroute.Router, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("POLYROUTE_CONFIG", str(tmp_path / "absent.yaml"))
    model = ChatPolyroute(model="sim-large", router=router)
    assert model.config is None
    assert model.invoke("hi").response_metadata["provider"] == "alpha"


def test_needs_a_router_or_a_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLYROUTE_CONFIG", raising=False)
    with pytest.raises(ValidationError, match="POLYROUTE_CONFIG"):
        ChatPolyroute(model="sim-large")


def test_router_and_config_together_are_rejected(router: polyroute.Router, sim_config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="not both"):
        ChatPolyroute(model="sim-large", router=router, config=sim_config)


@pytest.mark.parametrize("options", [{"model": "sim-huge"}, {"model": "sim-large", "models": ["sim-tiny"]}])
def test_unknown_models_fail_at_construction(router: polyroute.Router, options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=r"unknown model 'sim-(huge|tiny)'.*sim-large"):
        ChatPolyroute(router=router, **options)


def test_a_bad_config_names_the_key(sim_config: dict[str, Any]) -> None:
    sim_config["providers"]["alpha"]["base_url"] = "ftp://nowhere"
    with pytest.raises(ValidationError, match=r"providers\.alpha\.base_url"):
        ChatPolyroute(model="sim-large", config=sim_config)


@pytest.mark.parametrize(
    ("option", "where"), [("api_key", "provider's key"), ("max_retries", "router.retry.max_retries")]
)
def test_openai_client_options_point_to_the_config(router: polyroute.Router, option: str, where: str) -> None:
    with pytest.raises(ValidationError, match=where):
        options: dict[str, Any] = {option: 2}
        ChatPolyroute(model="sim-large", router=router, **options)


def test_unknown_options_are_rejected(router: polyroute.Router) -> None:
    with pytest.raises(ValidationError, match="temprature"):
        ChatPolyroute(model="sim-large", router=router, temprature=0)  # type: ignore[call-arg]


def test_streaming_with_several_choices_is_rejected(router: polyroute.Router) -> None:
    with pytest.raises(ValidationError, match="n must be 1"):
        ChatPolyroute(model="sim-large", router=router, streaming=True, n=2)


# -- serialization ----------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:The function `load` is in beta")
async def test_a_config_built_model_round_trips(sim_config: dict[str, Any], alpha: SimulatedProvider) -> None:
    model = ChatPolyroute(model="sim-large", config=sim_config, temperature=0.5, caller_tags=["a"])
    restored = load(dumpd(model), valid_namespaces=["langchain_polyroute"], allowed_objects=[ChatPolyroute])
    assert isinstance(restored, ChatPolyroute)
    assert restored.asdict() == model.asdict()
    assert await _served_by(restored) == "alpha"
    assert alpha.requests[-1].json is not None
    assert alpha.requests[-1].json["temperature"] == 0.5
    model.close()
    await model.aclose()


def test_a_model_around_a_live_router_is_not_serializable(router: polyroute.Router) -> None:
    assert dumpd(ChatPolyroute(model="sim-large", router=router))["type"] == "not_implemented"


def test_secrets_stay_out_of_reprs_and_serialized_forms(
    sim_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALPHA_KEY", "sk-very-secret-value")
    sim_config["providers"]["alpha"]["api_key"] = "${ALPHA_KEY}"
    model = ChatPolyroute(model="sim-large", config=sim_config)
    try:
        for text in (repr(model), str(dumpd(model)), repr(model.asdict())):
            assert "sk-very-secret-value" not in text
    finally:
        model.close()
