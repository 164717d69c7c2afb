"""Embeddings through LiteLLM's custom-provider hooks: parameters in, ``EmbeddingResponse`` out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from litellm.types.utils import EmbeddingResponse, Usage

from litellm_polyroute._response import ROUTE_FIELD

if TYPE_CHECKING:
    from polyroute.embeddings import EmbeddingResponse as RoutedEmbeddings

__all__ = ["embedding_params", "fill_embedding_response"]

#: keyword arguments of ``Router.embedding`` a LiteLLM caller may pass (others go to ``extra_body``)
_ROUTER_KEYS = frozenset(
    {
        "dimensions",
        "encoding_format",
        "user",
        "models",
        "compatible_vectors",
        "provider",
        "caller_key",
        "project",
        "tags",
        "metadata",
        "timeout",
    }
)


def embedding_params(optional_params: Mapping[str, Any], timeout: float | None) -> dict[str, Any]:
    """``Router.embedding`` keyword arguments from LiteLLM's ``optional_params``.

    LiteLLM refuses OpenAI's ``dimensions``, ``encoding_format`` and ``user`` for custom
    providers (or drops them with ``drop_params``), so they are also read from ``extra_body``;
    polyroute's own options (``models``, ``compatible_vectors``, ``provider``...) arrive as they
    are. Anything else goes into the request body.
    """
    params: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    body = optional_params.get("extra_body")
    merged = {**optional_params, **(body if isinstance(body, Mapping) else {})}
    merged.pop("extra_body", None)
    for key, value in merged.items():
        if value is None:
            continue
        if key in _ROUTER_KEYS:
            params[key] = value
        else:
            extra[key] = value
    if extra:
        params["extra_body"] = extra
    if "timeout" not in params and timeout is not None:
        params["timeout"] = timeout
    return params


def fill_embedding_response(model_response: EmbeddingResponse, resp: RoutedEmbeddings) -> EmbeddingResponse:
    """Write polyroute's embeddings into LiteLLM's response: vectors, usage, cost and route."""
    route = resp.route
    cost = route.cost if route is not None else None
    model_response.model = resp.model
    model_response.data = [item.model_dump() for item in resp.data]
    if resp.usage is not None:
        fields: dict[str, Any] = {
            "prompt_tokens": resp.usage.prompt_tokens,
            "completion_tokens": 0,
            "total_tokens": resp.usage.total_tokens,
        }
        if cost is not None:
            fields["cost"] = float(cost)
        model_response.usage = Usage(**fields)
    if cost is not None:
        model_response._hidden_params["response_cost"] = float(cost)
    if route is not None:
        setattr(model_response, ROUTE_FIELD, route.model_dump(mode="json"))
    return model_response
