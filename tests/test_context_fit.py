"""Context fit: estimate the prompt before any call and skip endpoints it cannot fit."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from tests.routing_support import USER, ep, excluded, order, routed


def _offline_bpe_available(name: str) -> bool:
    """Whether tiktoken and an offline copy of encoding ``name`` are installed (no download)."""
    if importlib.util.find_spec("tiktoken") is None:
        return False
    filename = hashlib.sha1(
        f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken".encode()
    ).hexdigest()
    for package, sub in (("litellm", "litellm_core_utils/tokenizers"), ("llama_index", "core/_static/tiktoken_cache")):
        spec = importlib.util.find_spec(package)
        for root in (spec.submodule_search_locations or []) if spec else []:
            if (Path(root) / sub / filename).exists():
                return True
    return False


needs_o200k = pytest.mark.skipif(
    not _offline_bpe_available("o200k_base"), reason="tiktoken's o200k_base BPE file is not installed offline"
)

LONG = [{"role": "user", "content": "The quick brown fox jumps over the lazy dog. " * 500}]  # 22,500 chars


def test_an_over_long_prompt_goes_straight_to_an_endpoint_that_fits() -> None:
    models = {"m": [ep("small", 1.0, context_length=1000), ep("large", 5.0, context_length=100_000)]}
    with routed(models, router={"provider": {"sort": "price"}}) as (router, sim, _):
        plan = router.plan("m", LONG)
        assert order(plan) == ["large"]
        assert "cannot fit its context of 1,000" in excluded(plan)["small"]
        resp = router.completion(model="m", messages=LONG)
    assert resp.route.provider == "large" and len(resp.route.attempts) == 1
    assert sim.provider("small").requests == []


def test_max_tokens_counts_against_the_context() -> None:
    models = {"m": [ep("small", 1.0, context_length=4000), ep("large", 5.0, context_length=100_000)]}
    with routed(models, router={"provider": {"sort": "price"}}) as (router, _, _):
        assert order(router.plan("m", USER, max_tokens=1000)) == ["small", "large"]
        plan = router.plan("m", USER, max_tokens=3999)
    assert order(plan) == ["large"]
    assert "max_tokens 3999" in excluded(plan)["small"]


def test_a_prompt_that_may_not_fit_is_tried_after_those_that_surely_fit() -> None:
    # 22,500 bytes: between 2,250 (floor) and 7,500 (conservative) tokens; no tokenizer is known
    models = {"m": [ep("mid", 1.0, context_length=6000), ep("large", 5.0, context_length=100_000)]}
    with routed(models, router={"provider": {"sort": "price"}}) as (router, _, _):
        plan = router.plan("m", LONG)
    assert order(plan) == ["large", "mid"]
    assert plan.candidates[1].reason.startswith("the prompt may not fit: about 7,5")


@needs_o200k
def test_tiktoken_decides_when_the_estimate_is_not_sure() -> None:
    # 500 repetitions of a 10-token sentence: about 5,000 tokens by o200k_base
    models = {
        "m": [
            ep("fits", 1.0, context_length=6000, tokenizer="o200k_base"),
            ep("tight", 1.5, context_length=4500, tokenizer="o200k_base"),
            ep("large", 5.0, context_length=100_000),
        ]
    }
    with routed(models, router={"provider": {"sort": "price"}}) as (router, _, _):
        plan = router.plan("m", LONG)
    assert order(plan) == ["fits", "large"]
    assert "by tiktoken" in excluded(plan)["tight"]


@needs_o200k
def test_the_tokenizer_is_known_from_an_openai_model_id() -> None:
    models = {"m": [{**ep("openai", 1.0, context_length=4500), "model": "gpt-4o-mini"}, ep("large", 5.0)]}
    with routed(models, router={"provider": {"sort": "price"}}) as (router, _, _):
        plan = router.plan("m", LONG)
    assert "by tiktoken" in excluded(plan)["openai"]


def test_importing_polyroute_does_not_import_tiktoken() -> None:
    code = "import sys, polyroute; sys.exit('tiktoken' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
