"""The :class:`PolyrouteEmbedding` model: LlamaIndex's ``BaseEmbedding`` over a polyroute router."""

from __future__ import annotations

import os
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CallbackManager

from polyroute import EmbeddingParams, Router, RouterHolder

__all__ = ["PolyrouteEmbedding"]


class PolyrouteEmbedding(RouterHolder, BaseEmbedding):
    """LlamaIndex embeddings whose every call is routed by polyroute.

    ``model`` is an embedding model of the polyroute config (``kind: embedding``). Each call
    goes to one of the providers serving it and fails over to another when one breaks (vectors
    of other models are never mixed in); batches larger than a provider takes are split and
    reassembled in order (sent ``max_concurrency`` at once by the async methods). Cost lands in
    polyroute's ledger and budgets.

    Use it as ``Settings.embed_model`` (or ``embed_model=``) for ``VectorStoreIndex``, query
    engines and retrievers. Build it over a shared :class:`polyroute.Router` (``router=``), or
    let it build and own one from a config path or dict (``config=``, default
    ``$POLYROUTE_CONFIG``). ``embed_batch_size`` is how many texts LlamaIndex hands over per call
    (default 100); polyroute splits further where a provider needs it.
    """

    model: str = Field(description="The polyroute embedding model to call.")
    dimensions: int | None = Field(default=None, description="Vector size to ask for, where supported.")
    models: list[str] | None = Field(default=None, description="Fallback embedding models.")
    compatible_vectors: bool = Field(
        default=False, description="Say that the fallback models' vectors are interchangeable with the model's."
    )
    provider: dict[str, Any] | None = Field(default=None, description="Provider preferences for routing.")
    timeout: float | None = Field(default=None, description="Deadline of one batch in seconds, failovers included.")
    user: str | None = Field(default=None, description="The end user (sent upstream, recorded for budgets).")
    caller_key: str | None = Field(default=None, description="The caller's key, for budgets and the ledger.")
    project: str | None = Field(default=None, description="The caller's project, for budgets and the ledger.")
    tags: list[str] | None = Field(default=None, description="Tags recorded in polyroute's ledger.")
    caller_metadata: dict[str, Any] | None = Field(default=None, description="Metadata recorded in the ledger.")
    extra_body: dict[str, Any] | None = Field(default=None, description="Provider-specific request fields.")
    max_concurrency: int = Field(default=4, ge=1, description="Batches sent at once by the async methods.")

    _router: Router = PrivateAttr()
    _owns_router: bool = PrivateAttr(default=False)

    def __init__(
        self,
        model: str,
        *,
        router: Router | None = None,
        config: str | os.PathLike[str] | dict[str, Any] | None = None,
        embed_batch_size: int = 100,
        callback_manager: CallbackManager | None = None,
        **kwargs: Any,
    ) -> None:
        fields: dict[str, Any] = {"model": model, "model_name": model, "embed_batch_size": embed_batch_size, **kwargs}
        if callback_manager is not None:
            fields["callback_manager"] = callback_manager
        super().__init__(**fields)
        if router is not None:
            if config is not None:
                raise ValueError("give PolyrouteEmbedding either router= or config=, not both")
            self._router = router
        else:
            config = config if config is not None else os.environ.get("POLYROUTE_CONFIG")
            if config is None:
                raise ValueError(
                    "PolyrouteEmbedding needs a router: pass router=polyroute.Router(...), config=<YAML path or dict>,"
                    " or set POLYROUTE_CONFIG"
                )
            self._router = Router.from_config(config)
            self._owns_router = True
        catalog = self._router.catalog
        for name in (model, *(self.models or ())):
            spec = catalog.model(name)
            if spec is None or spec.kind != "embedding":
                known = sorted(m.name for m in catalog.models.values() if m.kind == "embedding")
                raise ValueError(f"{name!r} is not an embedding model of the router; its embedding models are {known}")

    @classmethod
    def class_name(cls) -> str:
        return "PolyrouteEmbedding"

    @property
    def router(self) -> Router:
        """The router every call goes through."""
        return self._router

    def _params(self) -> dict[str, Any]:
        return {"model": self.model, **{option: getattr(self, field) for option, field in _OPTION_FIELDS.items()}}

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._router.embedding(input=query, **self._params()).vectors[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._router.aembedding(input=query, **self._params())).vectors[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._router.embedding(input=text, **self._params()).vectors[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._router.aembedding(input=text, **self._params())).vectors[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        if not texts:
            return []
        return self._router.embedding(input=texts, **self._params()).vectors

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        if not texts:
            return []
        resp = await self._router.aembedding(input=texts, max_concurrency=self.max_concurrency, **self._params())
        return resp.vectors


#: polyroute's embedding options (:class:`polyroute.EmbeddingParams`) this model has a field for,
#: and the field: their own name, but ``caller_metadata`` for polyroute's ``metadata``
_OPTION_FIELDS = {
    option: field
    for option in EmbeddingParams.__annotations__
    if (field := "caller_metadata" if option == "metadata" else option) in PolyrouteEmbedding.model_fields
}
