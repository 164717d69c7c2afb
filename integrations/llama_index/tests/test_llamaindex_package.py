"""The distribution's shape and the two ways to build a :class:`Polyroute`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import llama_index.llms
import pytest
import yaml
from llama_index.core.llms import ChatMessage
from llama_index.core.llms.function_calling import FunctionCallingLLM
from polyroute import Router
from polyroute.errors import InvalidRequest
from polyroute.testing import SimulatedProvider

from llama_index.llms.polyroute import Polyroute


def test_imports_from_the_llama_index_namespace() -> None:
    import llama_index.llms.polyroute as package

    assert package.__all__ == ["Polyroute"]
    assert issubclass(Polyroute, FunctionCallingLLM)
    # llama_index and llama_index.llms are namespace packages shared with llama-index-core
    assert not hasattr(llama_index.llms, "__file__") or llama_index.llms.__file__ is None
    assert (Path(package.__file__).parent / "py.typed").is_file()


def test_class_name() -> None:
    assert Polyroute.class_name() == "Polyroute_LLM"


def test_built_over_a_shared_router(router: Router, alpha: SimulatedProvider) -> None:
    llm = Polyroute(model="chat-model", router=router)

    assert llm.router is router
    assert llm.complete("hi").text == "Hello from alpha"
    llm.close()  # the router is the caller's: it stays usable
    assert llm.complete("again").text == "Hello from alpha"


def test_built_from_a_config_dict(config: dict[str, Any], alpha: SimulatedProvider) -> None:
    llm = Polyroute(model="chat-model", config=config)
    try:
        assert llm.chat([ChatMessage(role="user", content="hi")]).message.content == "Hello from alpha"
    finally:
        llm.close()
    assert alpha.requests[0].json is not None
    assert alpha.requests[0].json["model"] == "alpha-large"


def test_built_from_a_config_path(config: dict[str, Any], beta: SimulatedProvider, tmp_path: Path) -> None:
    path = tmp_path / "polyroute.yaml"
    path.write_text(yaml.safe_dump(config))
    llm = Polyroute(model="no-tools-model", config=str(path))
    try:
        assert llm.complete("hi").text == "Hello from beta"
    finally:
        llm.close()


async def _aclose_owned(config: dict[str, Any]) -> str:
    llm = Polyroute(model="chat-model", config=config)
    try:
        return str((await llm.acomplete("hi")).text)
    finally:
        await llm.aclose()


@pytest.mark.asyncio
async def test_owned_router_is_closed_by_aclose(config: dict[str, Any], alpha: SimulatedProvider) -> None:
    assert await _aclose_owned(config) == "Hello from alpha"


@pytest.mark.parametrize("both", [False, True])
def test_needs_exactly_one_of_router_or_config(router: Router, config: dict[str, Any], both: bool) -> None:
    kwargs: dict[str, Any] = {"router": router, "config": config} if both else {}
    with pytest.raises(ValueError, match="exactly one of router= .* or config="):
        Polyroute(model="chat-model", **kwargs)


def test_unknown_model_fails_at_construction(router: Router) -> None:
    with pytest.raises(InvalidRequest, match="unknown model 'nope'"):
        Polyroute(model="nope", router=router)
    with pytest.raises(InvalidRequest, match="unknown model 'missing-fallback'"):
        Polyroute(model="chat-model", router=router, models=["missing-fallback"])


def test_caller_key_stays_out_of_repr_and_serialisation(router: Router) -> None:
    llm = Polyroute(model="chat-model", router=router, caller_key="ck-secret-123", project="search")

    assert "ck-secret-123" not in repr(llm)
    assert "ck-secret-123" not in str(llm.to_dict())
    assert llm.to_dict()["project"] == "search"


@pytest.mark.parametrize("option", ["models", "tags"])
def test_a_string_where_a_list_belongs_is_refused(router: Router, option: str) -> None:
    kwargs: dict[str, Any] = {option: "backup-model"}
    with pytest.raises(TypeError, match=f"{option} must be a list of strings"):
        Polyroute(model="chat-model", router=router, **kwargs)
