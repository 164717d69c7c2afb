"""``metadata`` holds for every endpoint that may serve the call."""

from __future__ import annotations

import copy
from typing import Any

from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW, DEFAULT_NUM_OUTPUTS
from polyroute import Router

from llama_index.llms.polyroute import Polyroute


def _llm(config: dict[str, Any], model: str, **kwargs: Any) -> Polyroute:
    return Polyroute(model=model, router=Router.from_config(config), **kwargs)


def test_smallest_context_window_among_the_model_and_its_configured_fallbacks(llm: Polyroute) -> None:
    meta = llm.metadata

    # alpha 32,000 and beta 16,000 serve chat-model; its configured fallback backup-model has 8,000
    assert meta.context_window == 8000
    assert meta.model_name == "chat-model"
    assert meta.is_chat_model is True
    assert meta.is_function_calling_model is True


def test_fallback_models_given_at_construction_replace_the_configured_ones(router: Router) -> None:
    llm = Polyroute(model="chat-model", router=router, models=["no-tools-model"])

    meta = llm.metadata
    assert meta.context_window == 4096  # no-tools-model's beta endpoint; backup-model is no longer a candidate
    assert meta.is_function_calling_model is False  # that endpoint declares capabilities without "tools"


def test_max_output_tokens_is_never_taken_for_the_context_window(config: dict[str, Any]) -> None:
    config = copy.deepcopy(config)
    config["models"]["chat-model"]["fallbacks"] = []
    del config["models"]["chat-model"]["endpoints"][1]  # only alpha: context 32,000, max output 100,000

    meta = _llm(config, "chat-model").metadata

    assert meta.context_window == 32000


def test_undeclared_context_lengths_are_ignored_and_all_unknown_gives_the_default(config: dict[str, Any]) -> None:
    config = copy.deepcopy(config)
    config["models"]["chat-model"]["fallbacks"] = []
    del config["models"]["chat-model"]["endpoints"][0]["context_length"]
    assert _llm(config, "chat-model").metadata.context_window == 16000  # beta's; alpha's is unknown

    del config["models"]["chat-model"]["endpoints"][1]["context_length"]
    assert _llm(config, "chat-model").metadata.context_window == DEFAULT_CONTEXT_WINDOW


def test_function_calling_needs_every_candidate_to_support_tools(config: dict[str, Any]) -> None:
    config = copy.deepcopy(config)
    config["models"]["chat-model"]["endpoints"][1]["capabilities"] = ["tools", "streaming"]
    assert _llm(config, "chat-model").metadata.is_function_calling_model is True

    config["models"]["backup-model"]["endpoints"][0]["capabilities"] = ["streaming"]
    assert _llm(config, "chat-model").metadata.is_function_calling_model is False


def test_num_output_is_max_tokens_when_set(router: Router) -> None:
    assert Polyroute(model="chat-model", router=router).metadata.num_output == DEFAULT_NUM_OUTPUTS
    assert Polyroute(model="chat-model", router=router, max_tokens=700).metadata.num_output == 700
