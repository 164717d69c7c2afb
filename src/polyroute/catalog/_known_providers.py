"""The providers polyroute knows by name: wire API, base URL, and the environment that enables them.

This table is what zero-config (:meth:`polyroute.Router.from_env`) reads, what a config file's
``providers.<known name>`` inherits its defaults from, and what ``vendor/model`` ids resolve
against. It is data, not code: adding a provider is adding a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["KNOWN_PROVIDERS", "KnownProvider", "known_provider"]


@dataclass(frozen=True, slots=True)
class KnownProvider:
    """A provider's defaults.

    ``key_env`` lists the variables holding its API key (the first one set wins);
    ``base_url_env`` the variables that override ``base_url``. A ``local`` provider (Ollama,
    vLLM) needs no key and is enabled by its base-URL variable instead. ``vendors`` are the
    model-id prefixes that mean "this provider's own models" (``google/`` is Gemini), and
    ``openrouter_vendor`` how OpenRouter spells that prefix (``None``: OpenRouter does not serve
    this provider's model ids). ``families`` are bare model-name prefixes (``claude-``) that
    identify the vendor without a prefix.
    """

    name: str
    api: str
    base_url: str
    key_env: tuple[str, ...] = ()
    base_url_env: tuple[str, ...] = ()
    local: bool = False
    vendors: tuple[str, ...] = ()
    openrouter_vendor: str | None = None
    families: tuple[str, ...] = ()
    docs: str = ""

    def api_key_var(self, env: Mapping[str, str]) -> str | None:
        """The first of ``key_env`` set (non-empty) in ``env``."""
        return next((var for var in self.key_env if env.get(var)), None)

    def base_url_from(self, env: Mapping[str, str]) -> str | None:
        """The base URL an environment variable sets, normalised; ``None`` if none is set."""
        value = next((env[var] for var in self.base_url_env if env.get(var)), None)
        if value is None:
            return None
        return _normalise_url(value, ensure_v1=self.local)

    def enabled(self, env: Mapping[str, str]) -> bool:
        """Whether ``env`` turns this provider on (its key, or for a local one its base URL)."""
        if self.local:
            return self.base_url_from(env) is not None
        return self.api_key_var(env) is not None


def _normalise_url(value: str, *, ensure_v1: bool) -> str:
    url = value.strip().rstrip("/")
    if "://" not in url:  # OLLAMA_HOST is often host:port, or the 0.0.0.0 it binds to
        url = "http://" + url
    url = url.replace("://0.0.0.0", "://127.0.0.1")
    if ensure_v1 and not url.endswith("/v1"):
        url += "/v1"
    return url


KNOWN_PROVIDERS: tuple[KnownProvider, ...] = (
    KnownProvider(
        "openai",
        "openai",
        "https://api.openai.com/v1",
        key_env=("OPENAI_API_KEY",),
        base_url_env=("OPENAI_BASE_URL",),
        vendors=("openai",),
        openrouter_vendor="openai",
        families=("gpt-", "chatgpt-", "o1", "o3", "o4", "codex-"),
        docs="https://platform.openai.com/docs/api-reference/chat",
    ),
    KnownProvider(
        "anthropic",
        "anthropic",
        "https://api.anthropic.com/v1",
        key_env=("ANTHROPIC_API_KEY",),
        base_url_env=("ANTHROPIC_BASE_URL",),
        vendors=("anthropic",),
        openrouter_vendor="anthropic",
        families=("claude-",),
        docs="https://docs.anthropic.com/en/api/messages",
    ),
    KnownProvider(
        "gemini",
        "gemini",
        "https://generativelanguage.googleapis.com/v1beta",
        key_env=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        base_url_env=("GEMINI_BASE_URL",),
        vendors=("google", "gemini"),
        openrouter_vendor="google",
        families=("gemini-", "gemma-"),
        docs="https://ai.google.dev/api/generate-content",
    ),
    KnownProvider(
        "groq",
        "openai",
        "https://api.groq.com/openai/v1",
        key_env=("GROQ_API_KEY",),
        base_url_env=("GROQ_BASE_URL",),
        docs="https://console.groq.com/docs/api-reference",
    ),
    KnownProvider(
        "mistral",
        "openai",
        "https://api.mistral.ai/v1",
        key_env=("MISTRAL_API_KEY",),
        base_url_env=("MISTRAL_BASE_URL",),
        vendors=("mistralai", "mistral"),
        openrouter_vendor="mistralai",
        families=("mistral-", "magistral-", "codestral-", "ministral-", "pixtral-", "devstral-"),
        docs="https://docs.mistral.ai/api/",
    ),
    KnownProvider(
        "deepseek",
        "openai",
        "https://api.deepseek.com",
        key_env=("DEEPSEEK_API_KEY",),
        base_url_env=("DEEPSEEK_BASE_URL",),
        vendors=("deepseek",),
        openrouter_vendor="deepseek",
        families=("deepseek-",),
        docs="https://api-docs.deepseek.com/",
    ),
    KnownProvider(
        "together",
        "openai",
        "https://api.together.xyz/v1",
        key_env=("TOGETHER_API_KEY",),
        base_url_env=("TOGETHER_BASE_URL",),
        docs="https://docs.together.ai/reference/chat-completions-1",
    ),
    KnownProvider(
        "fireworks",
        "openai",
        "https://api.fireworks.ai/inference/v1",
        key_env=("FIREWORKS_API_KEY",),
        base_url_env=("FIREWORKS_BASE_URL",),
        docs="https://docs.fireworks.ai/api-reference/post-chatcompletions",
    ),
    KnownProvider(
        "openrouter",
        "openai",
        "https://openrouter.ai/api/v1",
        key_env=("OPENROUTER_API_KEY",),
        base_url_env=("OPENROUTER_BASE_URL",),
        docs="https://openrouter.ai/docs/api-reference/chat-completion",
    ),
    KnownProvider(
        "xai",
        "openai",
        "https://api.x.ai/v1",
        key_env=("XAI_API_KEY",),
        base_url_env=("XAI_BASE_URL",),
        vendors=("x-ai", "xai"),
        openrouter_vendor="x-ai",
        families=("grok-",),
        docs="https://docs.x.ai/docs/api-reference",
    ),
    KnownProvider(
        "cerebras",
        "openai",
        "https://api.cerebras.ai/v1",
        key_env=("CEREBRAS_API_KEY",),
        base_url_env=("CEREBRAS_BASE_URL",),
        docs="https://inference-docs.cerebras.ai/api-reference/chat-completions",
    ),
    KnownProvider(
        "ollama",
        "openai",
        "http://127.0.0.1:11434/v1",
        base_url_env=("OLLAMA_BASE_URL", "OLLAMA_HOST"),
        local=True,
        docs="https://github.com/ollama/ollama/blob/main/docs/openai.md",
    ),
    KnownProvider(
        "vllm",
        "openai",
        "http://127.0.0.1:8000/v1",
        key_env=("VLLM_API_KEY",),
        base_url_env=("VLLM_BASE_URL",),
        local=True,
        docs="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
    ),
)

_BY_NAME = {p.name: p for p in KNOWN_PROVIDERS}


def known_provider(name: str) -> KnownProvider | None:
    """The known provider called ``name``, or ``None``."""
    return _BY_NAME.get(name)
