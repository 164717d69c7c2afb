"""The catalog: models, the endpoints that serve them, and the providers behind those.

Immutable once built (a reload builds a new one). Built from configuration by
:mod:`polyroute.catalog._config`; planning reads it on every request, so lookups are dict hits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from polyroute._secret import Secret
from polyroute.accounting._settings import BudgetRule, CostSettings, LedgerSettings
from polyroute.state._settings import RateLimit, StateSettings

__all__ = [
    "BreakerSettings",
    "Catalog",
    "EmbeddingLimits",
    "Endpoint",
    "HedgeSettings",
    "Limits",
    "ModelSpec",
    "Pricing",
    "ProviderSpec",
    "RetrySettings",
    "RouterSettings",
    "RoutingSettings",
    "Timeouts",
]


@dataclass(frozen=True, slots=True)
class Pricing:
    """USD per token (per request and per image for those two). ``None`` means unknown.

    ``source`` says where the prices came from: ``config``, ``openrouter`` or ``litellm``.
    """

    prompt: Decimal | None = None
    completion: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    reasoning: Decimal | None = None
    request: Decimal | None = None
    image: Decimal | None = None
    source: str = "config"

    @property
    def known(self) -> bool:
        """Whether prompt and completion prices are both known."""
        return self.prompt is not None and self.completion is not None


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. ``connect`` and ``read`` per attempt; ``first_token`` for streams; ``deadline`` per call.

    ``first_token`` (set) bounds every streamed attempt's wait for its first content; unset,
    ``first_token_failover`` bounds it only when another candidate is left to fail over to.
    ``idle`` bounds each gap between chunks once content has started (a stalled stream is a break).
    """

    connect: float = 10.0
    read: float = 120.0
    first_token: float | None = None
    deadline: float | None = None
    first_token_failover: float | None = 15.0
    idle: float | None = 20.0


@dataclass(frozen=True, slots=True)
class Limits:
    """What one response may hold, enforced while it is read: its decompressed body (a stream's
    too, in all) and one line of a stream. Past either, the attempt fails with
    :class:`~polyroute.errors.ResponseTooLarge` and the connection is dropped."""

    max_body_bytes: int = 32 * 2**20
    max_line_bytes: int = 4 * 2**20


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Retries of the same endpoint for retryable failures, with exponential backoff and full jitter."""

    max_retries: int = 1
    base_delay: float = 0.25
    max_delay: float = 8.0
    #: a provider asking for a longer wait than this is not retried; we move to the next endpoint
    max_retry_after: float = 20.0
    #: a provider asking for this long a wait or longer is retried only when no other candidate
    #: is left: with somewhere else to go, waiting is slower than failing over
    failover_after: float = 1.0


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """Per-endpoint circuit breaker."""

    failure_threshold: int = 3
    cooldown: float = 30.0
    max_cooldown: float = 600.0
    #: how long an endpoint that answered 401/403 stays out of rotation
    auth_cooldown: float = 300.0


@dataclass(frozen=True, slots=True)
class StreamRecoverySettings:
    """Continuing a stream that broke after content on another endpoint that can continue it."""

    enabled: bool = True
    #: also continue on endpoints of other models (the request's fallbacks); off: the same model only
    across_models: bool = False


@dataclass(frozen=True, slots=True)
class HedgeSettings:
    """Hedged requests (async calls): when the first attempt has no first token after a delay,
    start the next candidate too and keep whichever answers first.

    ``delay`` is fixed seconds; ``percentile`` (e.g. ``95``) uses that percentile of the
    endpoint's observed time to first token instead, ``default_delay`` while it has fewer than
    ``min_samples`` samples, clamped to ``[min_delay, max_delay]``. Neither set: off.
    """

    delay: float | None = None
    percentile: float | None = None
    default_delay: float = 1.0
    min_delay: float = 0.0
    max_delay: float | None = None
    min_samples: int = 20

    @property
    def enabled(self) -> bool:
        """Whether hedging is on."""
        return self.delay is not None or self.percentile is not None


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    """How endpoints are ordered: outage memory, sticky sessions, hedging."""

    #: an endpoint that failed (its own fault) this recently, without a success since, is
    #: moved behind the stable ones (OpenRouter: "no significant outages in the last 30 s")
    outage_window: float = 30.0
    #: seconds a conversation keeps preferring the endpoint that served it; 0 turns it off
    sticky_window: float = 600.0
    hedge: HedgeSettings = HedgeSettings()


@dataclass(frozen=True, slots=True)
class RouterSettings:
    """Engine-wide settings."""

    retry: RetrySettings = RetrySettings()
    breaker: BreakerSettings = BreakerSettings()
    timeouts: Timeouts = Timeouts()
    routing: RoutingSettings = RoutingSettings()
    limits: Limits = Limits()
    #: default provider preferences (normalised), overridden per model and per request
    provider: Mapping[str, Any] = field(default_factory=dict)
    costs: CostSettings = field(default_factory=CostSettings)
    #: ``None``: no ledger
    ledger: LedgerSettings | None = None
    budgets: tuple[BudgetRule, ...] = ()
    stream_recovery: StreamRecoverySettings = StreamRecoverySettings()
    #: where breakers, statistics, sticky sessions, rate limits and budget counters live
    state: StateSettings = field(default_factory=StateSettings)


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """A provider: where it lives, how to authenticate, which wire API it speaks."""

    name: str
    api: str = "openai"
    base_url: str = ""
    api_key: Secret | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: resolved: the router's defaults with this provider's overrides
    timeouts: Timeouts = Timeouts()
    max_connections: int = 100
    #: ask OpenAI-compatible streams for a final usage chunk (``stream_options.include_usage``)
    stream_usage: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)
    #: requests / tokens per minute for the whole account (every endpoint of this provider)
    rate_limit: RateLimit | None = None
    limits: Limits = Limits()

    def __repr__(self) -> str:
        from polyroute._secret import is_secret_name

        headers = {k: "***" if is_secret_name(k) else v for k, v in self.headers.items()}
        options = {k: "***" if is_secret_name(k) else v for k, v in self.options.items()}
        return (
            f"ProviderSpec(name={self.name!r}, api={self.api!r}, base_url={self.base_url!r}, "
            f"api_key={self.api_key!r}, headers={headers!r}, timeouts={self.timeouts!r}, "
            f"max_connections={self.max_connections!r}, stream_usage={self.stream_usage!r}, "
            f"options={options!r}, limits={self.limits!r}, rate_limit={self.rate_limit!r})"
        )


#: what a model is called for: chat completions, or embeddings (``kind:`` in the configuration)
MODEL_KINDS = ("chat", "embedding")


@dataclass(frozen=True, slots=True)
class EmbeddingLimits:
    """An embedding endpoint's vector size and request limits (defaults: OpenAI's).

    ``dimensions`` is the length of the vectors it returns when the caller does not ask for a
    size (``None``: not declared, not checked); ``max_items`` and ``max_tokens`` bound one
    request: larger inputs are split into batches within them.
    """

    dimensions: int | None = None
    max_items: int = 2048
    max_tokens: int = 300_000


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One provider serving one model under its own model id, at its own price."""

    provider: str
    model: str
    pricing: Pricing = Pricing()
    context_length: int | None = None
    max_output_tokens: int | None = None
    #: declared features (``tools``, ``tool_choice``, ``json_schema``, ``json_object``, ``vision``,
    #: ``streaming``...); ``None`` means not declared (assumed supported)
    capabilities: frozenset[str] | None = None
    weight: float = 1.0
    data_collection: str | None = None
    zdr: bool | None = None
    quantization: str | None = None
    tokenizer: str | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    #: how this endpoint continues a partial answer given as a final assistant message:
    #: ``"prefill"`` (the message as is: Anthropic, OpenRouter), ``"prefix"`` (``prefix: true`` on
    #: it: DeepSeek, Mistral), ``"continue_final_message"`` (vLLM), ``"none"``; ``None``: the
    #: API's default (``"prefill"`` for ``api: anthropic``, else none)
    continuation: str | None = None
    #: requests / tokens per minute at this endpoint
    rate_limit: RateLimit | None = None
    #: set on the endpoints of an embedding model (``kind: embedding``), ``None`` on chat ones
    embedding: EmbeddingLimits | None = None

    @property
    def key(self) -> str:
        """A stable identifier: ``provider/model``."""
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model name users route to, its endpoints in configured order, and model-level fallbacks."""

    name: str
    endpoints: tuple[Endpoint, ...]
    fallbacks: tuple[str, ...] = ()
    #: this model's provider preferences (normalised by :func:`polyroute.routing._preferences.normalize_preferences`)
    provider_preferences: Mapping[str, Any] = field(default_factory=dict)
    #: ``"chat"`` or ``"embedding"``: a call of the other kind is an ``InvalidRequest``
    kind: str = "chat"
    #: embedding models only: the configuration says its vectors are interchangeable with those
    #: of the models it may fall back to (``compatible_vectors: true``)
    compatible_vectors: bool = False


_MAX_RESOLVED = 1024


class Catalog:
    """Models, endpoints and providers. Immutable; build a new one to change it.

    ``resolve`` (optional) answers for model names that are not configured, e.g.
    ``anthropic/claude-sonnet-4`` (see :class:`polyroute.catalog._model_ids.ModelResolver`); its answers
    are cached.
    """

    __slots__ = ("_models", "_providers", "_resolve", "_resolved", "settings")

    def __init__(
        self,
        providers: Iterable[ProviderSpec],
        models: Iterable[ModelSpec],
        settings: RouterSettings | None = None,
        *,
        resolve: Callable[[str], ModelSpec | None] | None = None,
    ) -> None:
        self._providers = {p.name: p for p in providers}
        self._models = {m.name: m for m in models}
        self.settings = settings or RouterSettings()
        self._resolve = resolve
        self._resolved: dict[str, ModelSpec] = {}

    @property
    def providers(self) -> Mapping[str, ProviderSpec]:
        """Providers by name."""
        return self._providers

    @property
    def models(self) -> Mapping[str, ModelSpec]:
        """Models by name, in configured order."""
        return self._models

    @property
    def resolves(self) -> bool:
        """Whether names that are not configured may still resolve (``provider/model`` ids)."""
        return self._resolve is not None

    def model(self, name: str) -> ModelSpec | None:
        """The model called ``name`` (configured, else resolved), or ``None``."""
        spec = self._models.get(name)
        if spec is not None or self._resolve is None:
            return spec
        spec = self._resolved.get(name)
        if spec is None:
            spec = self._resolve(name)
            if spec is not None:
                if len(self._resolved) >= _MAX_RESOLVED:
                    self._resolved.clear()
                self._resolved[name] = spec
        return spec

    def provider(self, name: str) -> ProviderSpec:
        """The provider called ``name`` (``KeyError`` if absent: the config validator prevents it)."""
        return self._providers[name]

    def __repr__(self) -> str:
        return f"Catalog(providers={list(self._providers)}, models={list(self._models)})"
