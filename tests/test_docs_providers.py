"""docs/providers.md: its runnable example runs, and its config examples load."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import polyroute

PAGE = Path(__file__).resolve().parents[1] / "docs" / "providers.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


def test_the_simulator_example_runs_offline() -> None:
    example = next(b for b in blocks("python") if "ProviderSimulator" in b)
    result = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.splitlines() == [
        "Bonjour !",
        "[('anthropic', 'ServerError'), ('gemini', None)]",
        "/gemini/v1beta/models/gemini-2.5-flash:generateContent",
    ]


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
