"""``PolyrouteEmbeddings``: LangChain embeddings whose every call is routed by polyroute."""

from __future__ import annotations

from typing import Any, Self

from langchain_core.embeddings import Embeddings
from pydantic import ConfigDict, Field, model_validator

import polyroute
from langchain_polyroute._routed import Routed

__all__ = ["PolyrouteEmbeddings"]


class PolyrouteEmbeddings(Routed, Embeddings):
    """Embeddings from an embedding model routed by a :class:`polyroute.Router`.

    The model is an embedding model of the polyroute config (``kind: embedding``). Each call
    goes to one of the providers serving that model and fails over to another if it breaks;
    a large ``embed_documents`` is split into batches within the providers' limits (sent
    concurrently by ``aembed_documents``) and comes back in order. Cost lands in polyroute's
    ledger and budgets like chat.

    ```python
    from langchain_polyroute import PolyrouteEmbeddings

    embeddings = PolyrouteEmbeddings(model="embed-small", config="polyroute.yaml")
    vectors = embeddings.embed_documents(["first document", "second document"])
    query = embeddings.embed_query("what is in the first document?")
    ```

    Args:
        model: the polyroute embedding model to call.
        router: a router to share (the caller closes it); or ``config``, a polyroute config
            (YAML path or dict; default ``$POLYROUTE_CONFIG``) to build one from.
        dimensions: shorter vectors, where the model supports it.
        models / compatible_vectors: fallback embedding models, refused by polyroute unless
            ``compatible_vectors`` says their vectors are interchangeable with ``model``'s.
        provider, timeout, user, caller_key, project, caller_tags, caller_metadata, extra_body:
            as for ``ChatPolyroute``.
        max_concurrency: batches sent at once by the async methods.
    """

    dimensions: int | None = None
    """Vector size to ask for (models that can shorten their vectors)."""
    compatible_vectors: bool = False
    """Say that the fallback models' vectors are interchangeable with ``model``'s."""
    extra_body: dict[str, Any] | None = None
    """Provider-specific fields added to the request body."""
    max_concurrency: int = Field(default=4, ge=1)
    """Batches sent at once by ``aembed_documents``."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    @model_validator(mode="after")
    def _connect(self) -> Self:
        catalog = self._connect_router()
        for name in (self.model, *(self.models or ())):
            spec = catalog.model(name)
            if spec is None or spec.kind != "embedding":
                known = sorted(m.name for m in catalog.models.values() if m.kind == "embedding")
                message = f"{name!r} is not an embedding model of the router; its embedding models are {known}"
                raise self._refuse(message)
        return self

    def _params(self) -> dict[str, Any]:
        return {"model": self.model, **{option: getattr(self, field) for option, field in _OPTION_FIELDS.items()}}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        if not texts:
            return []
        return self._router.embedding(input=texts, **self._params()).vectors

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query text."""
        return self._router.embedding(input=text, **self._params()).vectors[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order; batches sent up to ``max_concurrency`` at once."""
        if not texts:
            return []
        resp = await self._router.aembedding(input=texts, max_concurrency=self.max_concurrency, **self._params())
        return resp.vectors

    async def aembed_query(self, text: str) -> list[float]:
        """The vector of one query text (async)."""
        return (await self._router.aembedding(input=text, **self._params())).vectors[0]


#: polyroute's embedding options (:class:`polyroute.EmbeddingParams`) this model has a field for,
#: and the field: their own name, but for polyroute's ``tags`` and ``metadata``
_OPTION_FIELDS = {
    option: field
    for option in polyroute.EmbeddingParams.__annotations__
    if (field := {"tags": "caller_tags", "metadata": "caller_metadata"}.get(option, option))
    in PolyrouteEmbeddings.model_fields
}
