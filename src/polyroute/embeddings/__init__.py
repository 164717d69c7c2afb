"""Embeddings, routed: ``Router.embedding`` / ``Router.aembedding`` and their response types.

See ``docs/embeddings.md``. Embedding models are configured like chat models, with
``kind: embedding``; fail-over stays within one model (the same vectors from another provider).
"""

from __future__ import annotations

from polyroute.embeddings._types import Embedding, EmbeddingRequest, EmbeddingResponse

__all__ = ["Embedding", "EmbeddingRequest", "EmbeddingResponse"]
