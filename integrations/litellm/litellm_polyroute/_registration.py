"""One call to make ``litellm.completion(model="polyroute/<model>")`` go through polyroute."""

from __future__ import annotations

import litellm

from litellm_polyroute.handler import PROVIDER, PolyrouteLLM, RouterConfig, polyroute_handler
from polyroute import Router

__all__ = ["register"]


def register(
    router: Router | None = None,
    *,
    config: RouterConfig | None = None,
    provider: str = PROVIDER,
) -> PolyrouteLLM:
    """Register polyroute with LiteLLM as the custom provider ``provider`` and return its handler.

    With a ``router`` (or a ``config``: a YAML path or a dict) a handler of its own is
    registered; with neither, the module-level :data:`~litellm_polyroute.polyroute_handler`,
    which loads the config named by ``POLYROUTE_CONFIG`` on first use. A handler registered
    earlier under the same provider name is replaced. Models are then addressed as
    ``<provider>/<polyroute model>``, in ``litellm.completion`` and in a ``litellm.Router``'s
    ``model_list`` alike.
    """
    if router is not None and config is not None:
        raise ValueError("pass a router or a config, not both")
    handler = polyroute_handler if router is None and config is None else PolyrouteLLM(router, config=config)
    entries = [entry for entry in litellm.custom_provider_map if entry["provider"] != provider]
    entries.append({"provider": provider, "custom_handler": handler})
    litellm.custom_provider_map = entries
    return handler
