"""The keyword parameters of ``Router.completion`` / ``acompletion`` and ``Router.embedding`` /
``aembedding``, typed once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

__all__ = ["ROUTING_KEYS", "CompletionParams", "EmbeddingParams"]


class CompletionParams(TypedDict, total=False):
    """OpenAI Chat Completions parameters plus polyroute's routing and caller options.

    Any other keyword is passed through in the request body to OpenAI-compatible providers.
    """

    # -- OpenAI Chat Completions --
    temperature: float
    top_p: float
    max_tokens: int
    max_completion_tokens: int
    stop: str | Sequence[str]
    seed: int
    n: int
    tools: Sequence[Mapping[str, Any]]
    tool_choice: str | Mapping[str, Any]
    parallel_tool_calls: bool
    response_format: Mapping[str, Any]
    presence_penalty: float
    frequency_penalty: float
    logit_bias: Mapping[str, float]
    logprobs: bool
    top_logprobs: int
    reasoning_effort: str
    stream_options: Mapping[str, Any]
    user: str
    metadata: Mapping[str, Any]
    # -- routing (polyroute / OpenRouter) --
    models: Sequence[str]
    provider: Mapping[str, Any]
    session_id: str
    timeout: float
    hedge: bool | float | str
    # -- caller identity, for budgets and the ledger (never sent upstream) --
    caller_key: str
    project: str
    tags: Sequence[str]
    extra_body: Mapping[str, Any]


class EmbeddingParams(TypedDict, total=False):
    """The options of ``Router.embedding`` / ``aembedding`` after ``model`` and ``input``
    (validated by the call: an ``InvalidRequest`` names a bad one)."""

    dimensions: int | None
    encoding_format: Literal["float", "base64"] | None
    models: Sequence[str] | None
    compatible_vectors: bool
    provider: Mapping[str, Any] | None
    user: str | None
    caller_key: str | None
    project: str | None
    tags: Sequence[str] | None
    metadata: Mapping[str, Any] | None
    timeout: float | None
    extra_body: Mapping[str, Any] | None


#: keys that are ours, not the provider's
ROUTING_KEYS = frozenset(
    {
        "models",
        "provider",
        "session_id",
        "timeout",
        "hedge",
        "caller_key",
        "project",
        "tags",
        "metadata",
        "extra_body",
        "stream_options",
    }
)
