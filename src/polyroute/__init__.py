"""polyroute: an embeddable LLM router.

One engine picks a provider for every call (price, health, capabilities), fails over when a
provider breaks, and records exactly what each call cost::

    import polyroute
    router = polyroute.Router.from_config("polyroute.yaml")
    resp = router.completion(model="llama-3.3-70b", messages=[{"role": "user", "content": "hi"}])
    resp.choices[0].message.content, resp.route.provider, resp.route.cost

The usage ledger is :mod:`polyroute.ledger`, budgets :mod:`polyroute.budgets`, usage reports
:mod:`polyroute.reports`.
"""

from __future__ import annotations

from polyroute import errors
from polyroute._accumulator import StreamAccumulator
from polyroute._clock import Clock, SystemClock
from polyroute._closing import RouterHolder
from polyroute._params import CompletionParams, EmbeddingParams
from polyroute._request import Caller, ChatRequest
from polyroute._router import Router
from polyroute._secret import Secret
from polyroute._types import (
    Attempt,
    ChatCompletion,
    ChatCompletionChunk,
    ChatMessage,
    Choice,
    ChunkChoice,
    CostBreakdown,
    Delta,
    FunctionCall,
    Route,
    ToolCall,
    Usage,
)
from polyroute.accounting._settings import BudgetRule, CostSettings, LedgerSettings, key_fingerprint
from polyroute.catalog._catalog import (
    BreakerSettings,
    Catalog,
    EmbeddingLimits,
    Endpoint,
    HedgeSettings,
    ModelSpec,
    Pricing,
    ProviderSpec,
    RetrySettings,
    RouterSettings,
    RoutingSettings,
    Timeouts,
)
from polyroute.catalog._model_ids import PriceLookup
from polyroute.embeddings import Embedding, EmbeddingRequest, EmbeddingResponse
from polyroute.errors import (
    BudgetExceeded,
    ConfigError,
    InvalidRequest,
    NoEndpointAvailable,
    PolyrouteError,
    ProviderError,
    StreamInterrupted,
)
from polyroute.execution._execution import CallObserver
from polyroute.execution._stream import AsyncStream, Stream
from polyroute.health._breakers import BreakerState, HealthState
from polyroute.health._stats import EndpointStats, Percentiles, Signals, WindowStats
from polyroute.routing._planner import Candidate, Excluded, Plan
from polyroute.routing._preferences import ProviderPreferences
from polyroute.routing._strategies import Option, Strategy
from polyroute.routing._tokens import tokenizer_dirs

__version__ = "0.1.0"

__all__ = [
    "AsyncStream",
    "Attempt",
    "BreakerSettings",
    "BreakerState",
    "BudgetExceeded",
    "BudgetRule",
    "CallObserver",
    "Caller",
    "Candidate",
    "Catalog",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatMessage",
    "ChatRequest",
    "Choice",
    "ChunkChoice",
    "Clock",
    "CompletionParams",
    "ConfigError",
    "CostBreakdown",
    "CostSettings",
    "Delta",
    "Embedding",
    "EmbeddingLimits",
    "EmbeddingParams",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "Endpoint",
    "EndpointStats",
    "Excluded",
    "FunctionCall",
    "HealthState",
    "HedgeSettings",
    "InvalidRequest",
    "LedgerSettings",
    "ModelSpec",
    "NoEndpointAvailable",
    "Option",
    "Percentiles",
    "Plan",
    "PolyrouteError",
    "PriceLookup",
    "Pricing",
    "ProviderError",
    "ProviderPreferences",
    "ProviderSpec",
    "RetrySettings",
    "Route",
    "Router",
    "RouterHolder",
    "RouterSettings",
    "RoutingSettings",
    "Secret",
    "Signals",
    "Strategy",
    "Stream",
    "StreamAccumulator",
    "StreamInterrupted",
    "SystemClock",
    "Timeouts",
    "ToolCall",
    "Usage",
    "WindowStats",
    "__version__",
    "errors",
    "key_fingerprint",
    "tokenizer_dirs",
]
