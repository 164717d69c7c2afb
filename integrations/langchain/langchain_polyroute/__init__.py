"""LangChain integration for polyroute: ``ChatPolyroute`` and ``PolyrouteEmbeddings``, routed across providers.

::

    from langchain_polyroute import ChatPolyroute

    model = ChatPolyroute(model="llama-3.3-70b", config="polyroute.yaml")
    model.invoke("Hello").response_metadata["provider"]
"""

from __future__ import annotations

from importlib import metadata

from langchain_polyroute.chat_models import ChatPolyroute
from langchain_polyroute.embeddings import PolyrouteEmbeddings

try:
    __version__ = metadata.version("langchain-polyroute")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["ChatPolyroute", "PolyrouteEmbeddings", "__version__"]
