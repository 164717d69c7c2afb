"""Registering the handler, and how it finds its router (explicit, config, ``POLYROUTE_CONFIG``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import litellm
import litellm_polyroute
import pytest
import yaml

import polyroute

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def groq(answering: Callable[[str, str], Any]) -> Any:
    return answering("groq", "hello from groq")


@pytest.fixture
def config(groq: Any, config_factory: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return config_factory([groq], {"llama": ["groq"]})


def test_register_with_a_router_serves_polyroute_models(config: dict[str, Any]) -> None:
    with polyroute.Router.from_config(config) as router:
        handler = litellm_polyroute.register(router)

        resp = litellm.completion(model="polyroute/llama", messages=MESSAGES)

    assert resp.choices[0].message.content == "hello from groq"
    assert handler.router is router


def test_register_with_a_config_builds_the_router(config: dict[str, Any]) -> None:
    handler = litellm_polyroute.register(config=config)
    try:
        resp = litellm.completion(model="polyroute/llama", messages=MESSAGES)
    finally:
        handler.close()

    assert resp.route["provider"] == "groq"


def test_register_under_another_provider_name(config: dict[str, Any]) -> None:
    with polyroute.Router.from_config(config) as router:
        litellm_polyroute.register(router, provider="pr")

        resp = litellm.completion(model="pr/llama", messages=MESSAGES)

    assert resp.choices[0].message.content == "hello from groq"


def test_registering_again_replaces_the_handler_of_that_provider(config: dict[str, Any]) -> None:
    with polyroute.Router.from_config(config) as first, polyroute.Router.from_config(config) as second:
        litellm_polyroute.register(first)
        handler = litellm_polyroute.register(second)

        entries = [e for e in litellm.custom_provider_map if e["provider"] == "polyroute"]

    assert [e["custom_handler"] for e in entries] == [handler]
    assert handler.router is second


def test_register_without_arguments_uses_the_module_level_handler() -> None:
    handler = litellm_polyroute.register()

    assert handler is litellm_polyroute.polyroute_handler
    assert litellm.custom_provider_map == [{"provider": "polyroute", "custom_handler": handler}]


def test_a_router_and_a_config_together_are_refused(config: dict[str, Any]) -> None:
    with polyroute.Router.from_config(config) as router, pytest.raises(ValueError, match="not both"):
        litellm_polyroute.register(router, config=config)


def test_the_handler_loads_the_config_named_by_polyroute_config(
    config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "polyroute.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv(litellm_polyroute.CONFIG_ENV, str(path))
    handler = litellm_polyroute.PolyrouteLLM()
    litellm.custom_provider_map = [{"provider": "polyroute", "custom_handler": handler}]
    try:
        first = litellm.completion(model="polyroute/llama", messages=MESSAGES)
        second = litellm.completion(model="polyroute/llama", messages=MESSAGES)
    finally:
        handler.close()

    assert first.choices[0].message.content == second.choices[0].message.content == "hello from groq"
    assert first.route["provider"] == "groq"


def test_an_invalid_config_file_is_reported_as_a_server_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "polyroute.yaml"
    path.write_text(yaml.safe_dump({"models": {"llama": {"endpoints": [{"provider": "nowhere", "model": "x"}]}}}))
    monkeypatch.setenv(litellm_polyroute.CONFIG_ENV, str(path))
    litellm.custom_provider_map = [{"provider": "polyroute", "custom_handler": litellm_polyroute.PolyrouteLLM()}]

    with pytest.raises(litellm.exceptions.InternalServerError, match="nowhere"):
        litellm.completion(model="polyroute/llama", messages=MESSAGES)
