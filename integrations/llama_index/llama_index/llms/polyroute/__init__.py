"""LlamaIndex LLM integration for polyroute: ``from llama_index.llms.polyroute import Polyroute``."""

from llama_index.llms.polyroute.base import Polyroute

__all__ = ["Polyroute"]
