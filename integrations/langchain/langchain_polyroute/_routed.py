"""What ``ChatPolyroute`` and ``PolyrouteEmbeddings`` share: the polyroute model they call, the
router they route through, given (``router=``) or built from a config (``config=``, default
``$POLYROUTE_CONFIG``) and then theirs to close, and the routing and caller options."""

from __future__ import annotations

import os
from typing import Any

from langchain_core.utils.utils import from_env
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

import polyroute

__all__ = ["Routed"]


class Routed(polyroute.RouterHolder, BaseModel):
    """A model routed by polyroute. A subclass's ``mode="after"`` model validator calls
    :meth:`_connect_router` and then checks its models against the router's catalog."""

    model: str
    """The polyroute model to call (a model name in the router's config)."""
    router: polyroute.Router | None = Field(default=None, exclude=True)
    """A router to route through. The caller owns it (and closes it)."""
    config: str | os.PathLike[str] | dict[str, Any] | None = Field(
        default_factory=from_env("POLYROUTE_CONFIG", default=None), repr=False
    )
    """A polyroute config to build a router from: a YAML path or a dict. Defaults to ``$POLYROUTE_CONFIG``."""
    models: list[str] | None = None
    """Fallback models, tried in order after ``model`` (embedding models: with ``compatible_vectors``)."""
    provider: dict[str, Any] | None = None
    """Provider preferences for routing."""
    timeout: float | None = None
    """Deadline in seconds, failovers included: of a chat call, of each batch of embeddings."""
    user: str | None = None
    """The end user, sent upstream as OpenAI's ``user`` and recorded for budgets."""
    caller_key: str | None = None
    """The caller's key, for budgets and the ledger."""
    project: str | None = None
    """The caller's project, for budgets and the ledger."""
    caller_tags: list[str] | None = None
    """Tags recorded with the call in polyroute's ledger (polyroute's ``tags``)."""
    caller_metadata: dict[str, Any] | None = None
    """Metadata recorded with the call in polyroute's ledger (polyroute's ``metadata``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _router: polyroute.Router = PrivateAttr()
    _owns_router: bool = PrivateAttr(default=False)

    @field_validator("config", mode="before")
    @classmethod
    def _path_to_str(cls, value: Any) -> Any:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    def _connect_router(self) -> polyroute.Catalog:
        """Route through the router given, else through one built from the config; the catalog
        routed over. ``ValueError`` when there are both or neither."""
        name = type(self).__name__
        if self.router is not None:
            if "config" in self.model_fields_set and self.config is not None:
                raise ValueError(f"give {name} either router= or config=, not both")
            self.config = None  # a router given explicitly wins over $POLYROUTE_CONFIG
            self._router = self.router
        elif self.config is not None:
            self._router = polyroute.Router.from_config(self.config)
            self._owns_router = True
        else:
            raise ValueError(
                f"{name} needs a router: pass router=polyroute.Router(...), config=<YAML path or dict>, "
                "or set POLYROUTE_CONFIG"
            )
        return self._router.catalog

    def _refuse(self, message: str) -> ValueError:
        """``ValueError(message)``, the router closed first if it was built here."""
        self.close()
        return ValueError(message)
