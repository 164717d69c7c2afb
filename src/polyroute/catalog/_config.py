"""Configuration: YAML or a dict, validated at load, secrets only by environment reference.

``load_catalog()`` interpolates ``${VAR}`` / ``${VAR:-default}``, validates with pydantic
(unknown keys are errors, so typos are caught), checks cross-references, and builds the
immutable :class:`~polyroute.catalog._catalog.Catalog`. Every problem is a
:class:`~polyroute.errors.ConfigError` naming the key path.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from polyroute._secret import Secret, is_secret_name, remember, remember_url, scrub_values
from polyroute.accounting._settings import BudgetRule, CostSettings, LedgerSettings
from polyroute.adapters import known_apis
from polyroute.backends._http import CUSTOM_API
from polyroute.backends.litellm._backend import LITELLM_API
from polyroute.catalog._catalog import (
    BreakerSettings,
    Catalog,
    EmbeddingLimits,
    Endpoint,
    HedgeSettings,
    Limits,
    ModelSpec,
    ObservabilitySettings,
    Pricing,
    ProviderSpec,
    RetrySettings,
    RouterSettings,
    RoutingSettings,
    StreamRecoverySettings,
    Timeouts,
)
from polyroute.errors import ConfigError, InvalidRequest
from polyroute.routing._preferences import normalize_preferences
from polyroute.state._settings import RateLimit, StateSettings

if TYPE_CHECKING:
    from polyroute.catalog._price_sources import PriceTable

__all__ = ["RouterConfig", "load_catalog", "load_config_data", "load_ledger_settings"]

log = logging.getLogger("polyroute")

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_FULL_ENV_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$")
# ``{api_key: ${KEY}}`` is what people write, but ``{`` inside a YAML flow mapping is syntax:
# references are shielded with brackets YAML does not treat specially, and restored after parsing.
_YAML_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?)\}")
_SHIELDED = re.compile("\\$\u2045([^\u2046]*)\u2046")
_URL_PASSWORD = re.compile(r"^[a-z]+://[^/@:]*:[^/@]+@")
#: an HTTP header name (RFC 9110 token)
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: characters no header value (nor API key) may hold: CR, LF, NUL and other controls but tab
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: the longest time setting accepted, in seconds (about 11.5 days): longer is a mistake
MAX_SECONDS = 1e6
#: the most values a configuration may hold once YAML aliases are expanded, and its deepest nesting
MAX_VALUES = 100_000
MAX_DEPTH = 32


def _allows_bool(annotation: Any) -> bool:
    return annotation is bool or annotation is Any or bool in get_args(annotation)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _plain_numbers(cls, v: Any, info: ValidationInfo) -> Any:
        """Booleans are not numbers, and no number is infinite or NaN."""
        if isinstance(v, bool):
            field = cls.model_fields.get(info.field_name or "")
            if field is not None and not _allows_bool(field.annotation):
                raise ValueError("must not be true/false here")
        elif isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"must be a finite number, got {v!r}")
        return v


_Seconds = Field(default=None, gt=0, le=MAX_SECONDS)


class TimeoutConfig(_Strict):
    connect: float | None = _Seconds
    read: float | None = _Seconds
    first_token: float | None = _Seconds
    deadline: float | None = _Seconds
    #: 0 turns it off
    first_token_failover: float | None = Field(default=None, ge=0, le=MAX_SECONDS)
    #: 0 turns it off
    idle: float | None = Field(default=None, ge=0, le=MAX_SECONDS)


class RateLimitConfig(_Strict):
    """Requests (``rpm``) and tokens (``tpm``) per minute."""

    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)


class StateConfig(_Strict):
    """``router.state``: ``{backend: redis, url: ${REDIS_URL}}`` shares state between processes."""

    backend: Literal["memory", "redis"] = "memory"
    url: str | None = None
    prefix: str = Field(default="polyroute", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    timeout: float = Field(default=0.1, gt=0, le=10)
    sync_interval: float = Field(default=0.5, gt=0, le=60)
    retry_interval: float = Field(default=1.0, gt=0, le=300)
    budgets_on_error: Literal["closed", "open"] = "closed"

    @model_validator(mode="after")
    def _url(self) -> StateConfig:
        if self.backend == "redis":
            if not self.url:
                raise ValueError("backend redis needs a url: url: ${REDIS_URL}")
            if not self.url.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError(f"must be redis://, rediss:// or unix://, got {self.url.split('://')[0]}://...")
        elif self.url is not None:
            raise ValueError("a url is only for backend: redis")
        return self


class ProviderConfig(_Strict):
    api: str = "openai"
    #: required, except for ``api: litellm`` (LiteLLM knows where Bedrock or Vertex live) and
    #: ``api: custom`` (the router is given the provider's backend)
    base_url: str = ""
    api_key: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: TimeoutConfig | None = None
    max_connections: int = Field(default=100, ge=1)
    stream_usage: bool = True
    options: dict[str, Any] = Field(default_factory=dict)
    rate_limit: RateLimitConfig | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _base_url(v) if v else v

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        for name, value in v.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
            if _CONTROL.search(value):
                raise ValueError(f"the value of {name!r} holds a line break or another control character")
        return v

    @field_validator("api_key")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or _CONTROL.search(v)):
            raise ValueError("is empty, or holds a line break or another control character")
        return v


def _base_url(v: str) -> str:
    """``v`` if it is an absolute http(s) URL with a host (and no spaces, credentials or fragment)."""
    if not v.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    if any(c.isspace() for c in v) or _CONTROL.search(v):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in range
    except ValueError:
        raise ValueError("is not a valid URL (check the host and port)") from None
    if not parts.hostname:
        raise ValueError("must name a host, as in https://api.example.com/v1")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold credentials; give api_key (or headers) from the environment")
    if parts.fragment or parts.query:
        raise ValueError("must not have a query or fragment")
    return v.rstrip("/")


_Price = float | int | str | None


def _to_decimal(v: float | int | str) -> Decimal:
    try:
        return Decimal(str(v))
    except InvalidOperation:
        raise ValueError(f"must be a number, got {v!r}") from None


def _non_negative(v: float | int | str) -> float | int | str:
    """``v`` unchanged if it reads as a finite, non-negative decimal number; else ``ValueError``."""
    d = _to_decimal(v)
    if not d.is_finite() or d < 0:
        raise ValueError(f"must be a non-negative number, got {v!r}")
    return v


class PricingConfig(_Strict):
    """USD per token (``request``: per request; ``image``: per image)."""

    prompt: _Price = None
    completion: _Price = None
    cache_read: _Price = None
    cache_write: _Price = None
    reasoning: _Price = None
    request: _Price = None
    image: _Price = None

    @field_validator("*")
    @classmethod
    def _decimal(cls, v: _Price) -> _Price:
        return v if v is None else _non_negative(v)


class EndpointConfig(_Strict):
    provider: str
    model: str
    pricing: PricingConfig = PricingConfig()
    context_length: int | None = Field(default=None, ge=1, le=2**40)
    max_output_tokens: int | None = Field(default=None, ge=1, le=2**40)
    capabilities: list[str] | None = None
    weight: float = Field(default=1.0, ge=0, le=1e9)
    data_collection: Literal["allow", "deny"] | None = None
    zdr: bool | None = None
    quantization: str | None = None
    tokenizer: str | None = None
    extra_body: dict[str, Any] = Field(default_factory=dict)
    continuation: Literal["prefill", "prefix", "continue_final_message", "none"] | None = None
    rate_limit: RateLimitConfig | None = None
    #: ``embedding`` for an embedding endpoint (or say it on the model); the fields below are its own
    kind: Literal["chat", "embedding"] | None = None
    dimensions: int | None = Field(default=None, ge=1)
    max_batch_items: int | None = Field(default=None, ge=1)
    max_batch_tokens: int | None = Field(default=None, ge=1)


class ModelConfig(_Strict):
    endpoints: list[EndpointConfig] = Field(min_length=1)
    fallbacks: list[str] = Field(default_factory=list)
    provider: dict[str, Any] = Field(default_factory=dict)
    kind: Literal["chat", "embedding"] | None = None
    #: embedding models: the vectors of this model and of its fallbacks are interchangeable
    compatible_vectors: bool = False


class RetryConfig(_Strict):
    max_retries: int = Field(default=1, ge=0, le=10)
    base_delay: float = Field(default=0.25, ge=0, le=MAX_SECONDS)
    max_delay: float = Field(default=8.0, ge=0, le=MAX_SECONDS)
    max_retry_after: float = Field(default=20.0, ge=0, le=MAX_SECONDS)
    failover_after: float = Field(default=1.0, ge=0, le=MAX_SECONDS)


class BreakerConfig(_Strict):
    failure_threshold: int = Field(default=3, ge=1, le=1_000_000)
    cooldown: float = Field(default=30.0, ge=0, le=MAX_SECONDS)
    max_cooldown: float = Field(default=600.0, ge=0, le=MAX_SECONDS)
    auth_cooldown: float = Field(default=300.0, ge=0, le=MAX_SECONDS)


_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")


class HedgeConfig(_Strict):
    """``delay``: seconds, or ``p50``..``p99`` of the endpoint's observed time to first token."""

    delay: float | str
    default_delay: float = Field(default=1.0, ge=0, le=MAX_SECONDS)
    min_delay: float = Field(default=0.0, ge=0, le=MAX_SECONDS)
    max_delay: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    min_samples: int = Field(default=20, ge=1, le=1_000_000)

    @field_validator("delay")
    @classmethod
    def _delay(cls, v: float | str) -> float | str:
        if isinstance(v, str):
            m = _PERCENTILE.match(v)
            if m is None or not 0 < float(m.group(1)) < 100:
                raise ValueError(f"must be seconds or a percentile such as 'p95', got {v!r}")
        elif not 0 <= v <= MAX_SECONDS:
            raise ValueError(f"must be between 0 and {MAX_SECONDS:g} seconds, got {v!r}")
        return v


class LimitsConfig(_Strict):
    """What one response may hold: its decompressed body, and one line of a stream."""

    max_body_bytes: int = Field(default=32 * 2**20, ge=1024, le=2**40)
    max_line_bytes: int = Field(default=4 * 2**20, ge=1024, le=2**40)


class RoutingConfig(_Strict):
    outage_window: float = Field(default=30.0, ge=0, le=MAX_SECONDS)
    sticky_window: float = Field(default=600.0, ge=0, le=MAX_SECONDS)
    hedge: HedgeConfig | None = None


class ObservabilityConfig(_Strict):
    otel: bool = False
    prometheus: bool = False
    capture_content: bool = False


class StreamRecoveryConfig(_Strict):
    enabled: bool = True
    across_models: bool = False


class SettingsConfig(_Strict):
    retry: RetryConfig = RetryConfig()
    breaker: BreakerConfig = BreakerConfig()
    timeout: TimeoutConfig = TimeoutConfig()
    routing: RoutingConfig = RoutingConfig()
    limits: LimitsConfig = LimitsConfig()
    provider: dict[str, Any] = Field(default_factory=dict)
    observability: ObservabilityConfig = ObservabilityConfig()
    #: ``true``/``false``, or ``{enabled: true, across_models: false}``
    stream_recovery: StreamRecoveryConfig | bool = True
    state: StateConfig = StateConfig()


class PriceSourceConfig(_Strict):
    """One price catalog: ``{openrouter: FILE-OR-URL}`` or ``{litellm: true}`` (or a map file)."""

    openrouter: str | None = None
    litellm: bool | str | None = None

    @model_validator(mode="after")
    def _one(self) -> PriceSourceConfig:
        given = [k for k in ("openrouter", "litellm") if getattr(self, k) not in (None, False)]
        if len(given) != 1:
            raise ValueError("give exactly one source: {openrouter: FILE-OR-URL} or {litellm: true}")
        return self


class CostsConfig(_Strict):
    sources: list[PriceSourceConfig] = Field(default_factory=list)
    platform_fee_percent: float | int | str | None = None
    fetch_timeout: float = Field(default=10.0, gt=0, le=MAX_SECONDS)
    reserve_max_tokens: int = Field(default=4096, ge=1, le=2**40)
    hold_seconds: float = Field(default=3600.0, gt=0, le=MAX_SECONDS * 100)

    @field_validator("platform_fee_percent")
    @classmethod
    def _percent(cls, v: _Price) -> _Price:
        if v is None:
            return v
        d = _to_decimal(v)
        if not d.is_finite() or d < 0 or d > 100:
            raise ValueError(f"must be a percentage between 0 and 100, got {v!r}")
        return v


class LedgerConfig(_Strict):
    url: str | None = None
    db_schema: str = Field(default="public", alias="schema", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    queue_size: int = Field(default=10_000, ge=1, le=10_000_000)
    durability: Literal["normal", "full"] = "normal"

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v.strip() or _CONTROL.search(v):
            raise ValueError("must be a file path or a database URL")
        if v.startswith(("postgresql://", "postgres://")):
            if not urlsplit(v).hostname and "host=" not in v:
                raise ValueError("a PostgreSQL URL needs a host: postgresql://USER@HOST/DB")
            return v
        if v.startswith("sqlite://") and not v.startswith("sqlite:///"):
            raise ValueError("an SQLite URL has three slashes: sqlite:///relative.db or sqlite:////abs/path.db")
        if "://" in v.removeprefix("sqlite:///"):
            scheme = v.split(":", 1)[0]
            raise ValueError(f"must be sqlite:///PATH, postgresql://... or a file path, got {scheme}:...")
        return v


class BudgetConfig(_Strict):
    scope: Literal["user", "key", "tag", "project"]
    match: str = "*"
    limit_usd: float | int | str
    period: Literal["day", "week", "month", "total"] = "month"

    @field_validator("limit_usd")
    @classmethod
    def _limit(cls, v: float | int | str) -> float | int | str:
        return _non_negative(v)


class RouterConfig(_Strict):
    """The whole configuration file."""

    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    router: SettingsConfig = SettingsConfig()
    costs: CostsConfig = CostsConfig()
    #: ``true`` (or ``{}``) for SQLite in the user's data directory; ``false`` / absent: no ledger
    ledger: LedgerConfig | None = None
    budgets: list[BudgetConfig] = Field(default_factory=list)

    @field_validator("ledger", mode="before")
    @classmethod
    def _ledger_switch(cls, v: Any) -> Any:
        if v is True:
            return {}
        return None if v is False else v


# -- loading -----------------------------------------------------------------------------------


class _Env:
    """What interpolation saw: the variable behind each whole-value reference, and every value read
    from the environment (kept out of error messages)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.secret_paths: dict[str, str] = {}
        #: paths whose value used a ``${VAR:-default}`` default, or mixed a reference with literal text
        self.defaulted: set[str] = set()
        self.partial: set[str] = set()
        self.values: set[str] = set()


def _interpolate(value: Any, path: str, seen: _Env) -> Any:
    if isinstance(value, str):
        if "$\u2045" in value:
            value = _SHIELDED.sub(r"${\1}", value)
        if "${" not in value:
            return value
        env = seen.env

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if default:
                seen.defaulted.add(path)  # a literal in the file, used or not
            if name in env and env[name] != "":
                seen.values.add(env[name])
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"environment variable {name} is not set", path=path)

        out = _ENV_REF.sub(sub, value)
        full = _FULL_ENV_REF.match(value)
        if full is not None:
            seen.secret_paths[path] = _ENV_REF.match(value).group(1)  # type: ignore[union-attr]
        else:
            seen.partial.add(path)
        return out
    if isinstance(value, Mapping):
        return {k: _interpolate(v, f"{path}.{k}" if path else str(k), seen) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{path}[{i}]", seen) for i, v in enumerate(value)]
    return value


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _check_size(data: Any, where: str) -> None:
    """At most :data:`MAX_VALUES` values (YAML aliases counted each time they are used) nested at
    most :data:`MAX_DEPTH` deep: a bounded walk, so an alias bomb costs little to refuse."""
    count = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(f"too large: more than {MAX_VALUES} values (YAML aliases counted where used)", path=where)
        if isinstance(value, Mapping):
            if depth >= MAX_DEPTH:
                raise ConfigError(f"nested more than {MAX_DEPTH} levels deep", path=where)
            stack.extend((v, depth + 1) for v in value.values())
            count += len(value)
        elif isinstance(value, (list, tuple)):
            if depth >= MAX_DEPTH:
                raise ConfigError(f"nested more than {MAX_DEPTH} levels deep", path=where)
            stack.extend((v, depth + 1) for v in value)


def load_config_data(source: Path | Mapping[str, Any]) -> Mapping[str, Any]:
    """The raw configuration from a YAML file or a dict."""
    if isinstance(source, Mapping):
        _check_size(source, "(top level)")
        return source
    import yaml

    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", path=str(source)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not a text file (not UTF-8 at byte {exc.start})", path=str(source)) from None
    if "\x00" in text:
        raise ConfigError("not a text file (it holds NUL bytes)", path=str(source))
    try:
        data = yaml.safe_load(_YAML_ENV_REF.sub("$\u2045\\1\u2046", text))
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=str(source)) from exc
    except RecursionError:
        raise ConfigError(f"nested more than {MAX_DEPTH} levels deep", path=str(source)) from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"the top level must be a mapping, got {type(data).__name__}", path=str(source))
    _check_size(data, str(source))
    return data


def parse_config(
    data: Mapping[str, Any], *, env: Mapping[str, str] | None = None
) -> tuple[RouterConfig, dict[str, str]]:
    """Interpolate and validate; return the config and the env variable behind each secret path.

    Error messages never show a value read from the environment.
    """
    seen = _Env(os.environ if env is None else env)
    try:
        resolved = _interpolate(data, "", seen)
        try:
            config = RouterConfig.model_validate(resolved)
        except ValidationError as exc:
            problems = [(_loc_to_path(e["loc"]) or "(top level)", e["msg"]) for e in exc.errors()]
            if len(problems) == 1:
                raise ConfigError(problems[0][1], path=problems[0][0]) from None
            lines = "\n  ".join(f"{p}: {m}" for p, m in problems)
            err = ConfigError(f"{len(problems)} problems in the configuration:\n  {lines}")
            err.path = problems[0][0]
            raise err from None
        _check_references(config, seen)
    except ConfigError as exc:
        if seen.values:
            raise _scrubbed(exc, seen.values) from None
        raise
    except RecursionError:
        raise ConfigError(f"nested more than {MAX_DEPTH} levels deep") from None
    return config, seen.secret_paths


def _scrubbed(exc: ConfigError, values: set[str]) -> ConfigError:
    text = str(exc)
    clean = scrub_values(text, values)
    if clean == text:
        return exc
    out = ConfigError(clean)
    out.path = exc.path
    return out


def _secret_problem(path: str, seen: _Env) -> str | None:
    """Why the value at ``path`` (which carries a secret) does not come from the environment, if it does not."""
    if path in seen.defaulted:
        return "takes a default from the configuration (${VAR:-...}); secrets must come from the environment alone"
    if path not in seen.secret_paths:
        return "secrets must come from the environment: write ${SOME_ENV_VAR} as the whole value"
    return None


def _check_secret(path: str, seen: _Env) -> None:
    problem = _secret_problem(path, seen)
    if problem is not None:
        raise ConfigError(problem, path=path)


def _url_password(url: str) -> bool:
    """Whether a database URL carries a password (in its user part or as a ``password=`` parameter)."""
    try:
        parts = urlsplit(url)
        return parts.password is not None or "password=" in parts.query.lower()
    except ValueError:
        return bool(_URL_PASSWORD.search(url))


def _check_references(config: RouterConfig, seen: _Env) -> None:
    apis = sorted([*known_apis(), LITELLM_API, CUSTOM_API])
    for name, provider in config.providers.items():
        path = f"providers.{name}"
        if provider.api not in apis:
            raise ConfigError(f"unknown api {provider.api!r}; expected one of {apis}", path=f"{path}.api")
        if not provider.base_url and provider.api not in (LITELLM_API, CUSTOM_API):
            raise ConfigError("Field required", path=f"{path}.base_url")
        if provider.api_key is not None:
            _check_secret(f"{path}.api_key", seen)
        for header in provider.headers:
            if is_secret_name(header):
                _check_secret(f"{path}.headers.{header}", seen)
        for key, value in provider.options.items():
            if is_secret_name(key) and value is not None:
                _check_secret(f"{path}.options.{key}", seen)
    for name, model in config.models.items():
        for i, ep in enumerate(model.endpoints):
            if ep.provider not in config.providers:
                known = ", ".join(sorted(config.providers)) or "none"
                raise ConfigError(
                    f"unknown provider {ep.provider!r} (configured providers: {known})",
                    path=f"models.{name}.endpoints[{i}].provider",
                )
        for i, fb in enumerate(model.fallbacks):
            if fb not in config.models:
                raise ConfigError(f"unknown fallback model {fb!r}", path=f"models.{name}.fallbacks[{i}]")
    _check_kinds(config)
    ledger = config.ledger
    url = ledger.url if ledger is not None else None
    if url and _url_password(url) and _secret_problem("ledger.url", seen) is not None:
        raise ConfigError(
            "a URL with a password must come from the environment alone: write url: ${LEDGER_URL}", path="ledger.url"
        )
    state_url = config.router.state.url
    if state_url and _url_password(state_url) and _secret_problem("router.state.url", seen) is not None:
        raise ConfigError(
            "a URL with a password must come from the environment alone: write url: ${REDIS_URL}",
            path="router.state.url",
        )


def model_kind(model: ModelConfig) -> str:
    """A model's kind: its own ``kind``, else its endpoints' (validated to agree), else ``chat``."""
    if model.kind is not None:
        return model.kind
    kinds = {ep.kind for ep in model.endpoints if ep.kind is not None}
    return kinds.pop() if len(kinds) == 1 else "chat"


_EMBEDDING_APIS = ("openai", "gemini", LITELLM_API)


def _check_kinds(config: RouterConfig) -> None:
    """Kinds agree within a model; embedding settings only on embedding endpoints of APIs that
    embed; fallbacks stay within a kind, and across embedding models only when the configuration
    says the vectors are compatible."""
    for name, model in config.models.items():
        kind = model_kind(model)
        dims: set[int] = set()
        for i, ep in enumerate(model.endpoints):
            path = f"models.{name}.endpoints[{i}]"
            if ep.kind is not None and ep.kind != kind:
                raise ConfigError(
                    f"kind {ep.kind!r} differs from the model's ({kind!r}): one model serves one kind",
                    path=f"{path}.kind",
                )
            if kind == "chat":
                for field in ("dimensions", "max_batch_items", "max_batch_tokens"):
                    if getattr(ep, field) is not None:
                        raise ConfigError(
                            "only embedding endpoints take this (set kind: embedding)", path=f"{path}.{field}"
                        )
                continue
            api = config.providers[ep.provider].api
            if api not in _EMBEDDING_APIS:
                raise ConfigError(
                    f"provider {ep.provider!r} speaks api {api!r}, which has no embeddings;"
                    f" embedding endpoints need one of {list(_EMBEDDING_APIS)}",
                    path=f"{path}.provider",
                )
            if ep.dimensions is not None:
                dims.add(ep.dimensions)
        if len(dims) > 1:
            raise ConfigError(
                f"endpoints declare different dimensions {sorted(dims)}: vectors of different sizes are not"
                " interchangeable (make them separate models)",
                path=f"models.{name}.endpoints",
            )
        if model.compatible_vectors and kind != "embedding":
            raise ConfigError("only embedding models take this", path=f"models.{name}.compatible_vectors")
        for i, fb in enumerate(model.fallbacks):
            path = f"models.{name}.fallbacks[{i}]"
            other = config.models[fb]
            other_kind = model_kind(other)
            if other_kind != kind:
                raise ConfigError(f"a {kind} model cannot fall back to {fb!r}, a {other_kind} model", path=path)
            if kind == "embedding" and not model.compatible_vectors:
                raise ConfigError(
                    f"vectors of {name!r} and {fb!r} are not interchangeable: an index built with one cannot be"
                    " searched with the other. Set compatible_vectors: true on the model if they are",
                    path=path,
                )
            theirs = {ep.dimensions for ep in other.endpoints if ep.dimensions is not None}
            if dims and theirs and dims != theirs:
                raise ConfigError(
                    f"{fb!r} returns {sorted(theirs)[0]}-dimensional vectors, {name!r} {sorted(dims)[0]}", path=path
                )


def _embedding_limits(ep: EndpointConfig) -> EmbeddingLimits:
    defaults = EmbeddingLimits()
    return EmbeddingLimits(
        dimensions=ep.dimensions,
        max_items=ep.max_batch_items or defaults.max_items,
        max_tokens=ep.max_batch_tokens or defaults.max_tokens,
    )


def _embedding_pricing(pricing: Pricing) -> Pricing:
    """Embeddings have no output: an input price alone is a known price."""
    if pricing.prompt is not None and pricing.completion is None:
        return replace(pricing, completion=Decimal(0))
    return pricing


def _dec(v: _Price) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def _timeouts(base: Timeouts, cfg: TimeoutConfig | None) -> Timeouts:
    if cfg is None:
        return base
    return Timeouts(
        connect=cfg.connect if cfg.connect is not None else base.connect,
        read=cfg.read if cfg.read is not None else base.read,
        first_token=cfg.first_token if cfg.first_token is not None else base.first_token,
        deadline=cfg.deadline if cfg.deadline is not None else base.deadline,
        first_token_failover=_off(cfg.first_token_failover, base.first_token_failover),
        idle=_off(cfg.idle, base.idle),
    )


def _off(value: float | None, base: float | None) -> float | None:
    """A configured limit: unset keeps ``base``, 0 turns it off."""
    if value is None:
        return base
    return value or None


def _preferences(raw: Mapping[str, Any], path: str) -> dict[str, Any]:
    try:
        return normalize_preferences(raw, path=path)
    except InvalidRequest as exc:
        raise ConfigError(str(exc).removeprefix(f"{exc.param}: "), path=exc.param or path) from None


def _hedge(cfg: HedgeConfig | None) -> HedgeSettings:
    if cfg is None:
        return HedgeSettings()
    percentile = float(cfg.delay[1:]) if isinstance(cfg.delay, str) else None
    return HedgeSettings(
        delay=None if isinstance(cfg.delay, str) else float(cfg.delay),
        percentile=percentile,
        default_delay=cfg.default_delay,
        min_delay=cfg.min_delay,
        max_delay=cfg.max_delay,
        min_samples=cfg.min_samples,
    )


def price_tables(costs: CostsConfig, base_dir: Path | None) -> list[PriceTable]:
    """The price tables ``costs.sources`` names, in precedence order."""
    from polyroute.catalog._price_sources import load_litellm_prices, load_openrouter_prices

    tables: list[PriceTable] = []
    for i, src in enumerate(costs.sources):
        path = f"costs.sources[{i}]"
        if src.openrouter is not None:
            tables.append(
                load_openrouter_prices(src.openrouter, base_dir=base_dir, timeout=costs.fetch_timeout, path=path)
            )
            continue
        file = None
        if isinstance(src.litellm, str):
            file = Path(src.litellm).expanduser()
            if not file.is_absolute() and base_dir is not None:
                file = base_dir / file
        table = load_litellm_prices(file, path=path)
        if table is None:
            log.info("polyroute: litellm is not installed; %s (litellm prices) skipped", path)
        else:
            tables.append(table)
    return tables


def _pricing(cfg: PricingConfig, provider: str, model: str, tables: list[PriceTable]) -> Pricing:
    """The configured prices if any are given, else the first price source that knows the endpoint."""
    if any(v is not None for v in cfg.model_dump().values()) or not tables:
        return Pricing(
            prompt=_dec(cfg.prompt),
            completion=_dec(cfg.completion),
            cache_read=_dec(cfg.cache_read),
            cache_write=_dec(cfg.cache_write),
            reasoning=_dec(cfg.reasoning),
            request=_dec(cfg.request),
            image=_dec(cfg.image),
        )
    for table in tables:
        found = table.lookup(provider, model)
        if found is not None:
            return found
    return Pricing()


def _remember_secrets(p: ProviderConfig) -> None:
    """Header and option values that carry secrets: scrubbed from everything polyroute shows."""
    for name, value in p.headers.items():
        if is_secret_name(name):
            remember(value.removeprefix("Bearer ").removeprefix("bearer "))
    for name, value in p.options.items():
        if is_secret_name(name) and isinstance(value, str):
            remember(value)


def _same(pricing: Pricing) -> Pricing:
    return pricing


def _ledger_settings(cfg: LedgerConfig | None, base_dir: Path | None) -> LedgerSettings | None:
    if cfg is None:
        return None
    url = cfg.url
    if url is not None:
        remember_url(url)
    if url is not None and not url.startswith(("postgresql://", "postgres://")) and base_dir is not None:
        file = url.removeprefix("sqlite:///")
        if not Path(file).expanduser().is_absolute():
            url = str(base_dir / file)
    return LedgerSettings(url=url, schema=cfg.db_schema, queue_size=cfg.queue_size, durability=cfg.durability)


def _rate_limit(cfg: RateLimitConfig | None) -> RateLimit | None:
    return None if cfg is None else RateLimit(rpm=cfg.rpm, tpm=cfg.tpm)


def _state_settings(cfg: StateConfig, secret_paths: Mapping[str, str]) -> StateSettings:
    url = None
    if cfg.url is not None:
        url = Secret(cfg.url, source=f"env:{secret_paths.get('router.state.url', '?')}")
        remember_url(cfg.url)
    return StateSettings(
        backend=cfg.backend,
        url=url,
        prefix=cfg.prefix,
        timeout=cfg.timeout,
        sync_interval=cfg.sync_interval,
        retry_interval=cfg.retry_interval,
        budgets_on_error=cfg.budgets_on_error,
    )


def build_catalog(config: RouterConfig, secret_paths: Mapping[str, str], *, base_dir: Path | None = None) -> Catalog:
    """The immutable catalog for a validated config; relative files are read from ``base_dir``."""
    s = config.router
    costs = config.costs
    settings = RouterSettings(
        retry=RetrySettings(**s.retry.model_dump()),
        breaker=BreakerSettings(**s.breaker.model_dump()),
        timeouts=_timeouts(Timeouts(), s.timeout),
        routing=RoutingSettings(
            outage_window=s.routing.outage_window,
            sticky_window=s.routing.sticky_window,
            hedge=_hedge(s.routing.hedge),
        ),
        limits=Limits(max_body_bytes=s.limits.max_body_bytes, max_line_bytes=s.limits.max_line_bytes),
        provider=_preferences(s.provider, "router.provider"),
        costs=CostSettings(
            platform_fee_percent=_dec(costs.platform_fee_percent),
            reserve_max_tokens=costs.reserve_max_tokens,
            hold_seconds=costs.hold_seconds,
        ),
        ledger=_ledger_settings(config.ledger, base_dir),
        budgets=tuple(
            BudgetRule(scope=b.scope, match=b.match, limit_usd=Decimal(str(b.limit_usd)), period=b.period)
            for b in config.budgets
        ),
        observability=ObservabilitySettings(**s.observability.model_dump()),
        stream_recovery=(
            StreamRecoverySettings(enabled=s.stream_recovery)
            if isinstance(s.stream_recovery, bool)
            else StreamRecoverySettings(
                enabled=s.stream_recovery.enabled, across_models=s.stream_recovery.across_models
            )
        ),
        state=_state_settings(s.state, secret_paths),
    )
    tables = price_tables(costs, base_dir)
    providers = []
    for name, p in config.providers.items():
        key = None
        if p.api_key is not None:
            key = Secret(p.api_key, source=f"env:{secret_paths.get(f'providers.{name}.api_key', '?')}")
        _remember_secrets(p)
        providers.append(
            ProviderSpec(
                name=name,
                api=p.api,
                base_url=p.base_url,
                api_key=key,
                headers=dict(p.headers),
                timeouts=_timeouts(settings.timeouts, p.timeout),
                max_connections=p.max_connections,
                stream_usage=p.stream_usage,
                options=dict(p.options),
                limits=settings.limits,
                rate_limit=_rate_limit(p.rate_limit),
            )
        )
    models = []
    for name, m in config.models.items():
        embedding = model_kind(m) == "embedding"
        endpoints = tuple(
            Endpoint(
                provider=e.provider,
                model=e.model,
                pricing=(_embedding_pricing if embedding else _same)(_pricing(e.pricing, e.provider, e.model, tables)),
                context_length=e.context_length,
                max_output_tokens=e.max_output_tokens,
                capabilities=frozenset(e.capabilities) if e.capabilities is not None else None,
                weight=e.weight,
                data_collection=e.data_collection,
                zdr=e.zdr,
                quantization=e.quantization,
                tokenizer=e.tokenizer,
                extra_body=dict(e.extra_body),
                continuation=e.continuation,
                rate_limit=_rate_limit(e.rate_limit),
                embedding=_embedding_limits(e) if embedding else None,
            )
            for e in m.endpoints
        )
        prefs = _preferences(m.provider, f"models.{name}.provider")
        models.append(
            ModelSpec(
                name,
                endpoints,
                tuple(m.fallbacks),
                prefs,
                kind="embedding" if embedding else "chat",
                compatible_vectors=m.compatible_vectors,
            )
        )
    return Catalog(providers, models, settings)


def load_catalog(source: Path | Mapping[str, Any], *, env: Mapping[str, str] | None = None) -> Catalog:
    """Read, interpolate, validate and build: the catalog for a config file path or dict.

    Relative paths in a config file (price files, the ledger) are relative to its directory.
    """
    config, secret_paths = parse_config(load_config_data(source), env=env)
    base_dir = None if isinstance(source, Mapping) else source.resolve().parent
    return build_catalog(config, secret_paths, base_dir=base_dir)


def load_ledger_settings(
    source: Path | Mapping[str, Any], *, env: Mapping[str, str] | None = None
) -> LedgerSettings | None:
    """Just the ledger a configuration names (``None``: no ledger), without building the catalog."""
    config, _ = parse_config(load_config_data(source), env=env)
    base_dir = None if isinstance(source, Mapping) else source.resolve().parent
    return _ledger_settings(config.ledger, base_dir)
