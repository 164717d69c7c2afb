"""LlamaIndex embeddings for polyroute: ``from llama_index.embeddings.polyroute import PolyrouteEmbedding``."""

from llama_index.embeddings.polyroute.base import PolyrouteEmbedding

__all__ = ["PolyrouteEmbedding"]
