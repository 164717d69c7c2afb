"""docs/providers.md: its config examples load (its Python example runs in test_docs_examples.py)."""

from __future__ import annotations

import re
from pathlib import Path

import polyroute

PAGE = Path(__file__).resolve().parents[1] / "docs" / "providers.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


def test_the_config_examples_load(tmp_path: Path) -> None:
    merged, explicit = blocks("yaml")
    env = {var: "x" for var in re.findall(r"\$\{([A-Z_]+)\}", merged + explicit)}
    (tmp_path / "explicit.yaml").write_text(explicit)
    router = polyroute.Router.from_config(tmp_path / "explicit.yaml", env=env)
    assert {"anthropic", "gemini", "ollama", "vllm", "bedrock", "cohere"} <= set(router.catalog.providers)
    (tmp_path / "merged.yaml").write_text(merged)
    router = polyroute.Router.from_env(env={**env, "ANTHROPIC_API_KEY": "x"}, config=tmp_path / "merged.yaml")
    plan = [(c.endpoint.provider, c.endpoint.model) for c in router.plan("fast").candidates]
    assert plan == [
        ("groq", "llama-3.1-8b-instant"),
        ("lab", "llama-3.1-8b"),
        ("anthropic", "claude-haiku-4-5"),
        ("openrouter", "anthropic/claude-haiku-4.5"),  # OPENROUTER_API_KEY is set too
    ]
