"""polyroute as a LiteLLM custom provider.

Hand a LiteLLM model group to polyroute's routing, failover and cost accounting with one entry::

    import litellm, litellm_polyroute, polyroute

    litellm_polyroute.register(polyroute.Router.from_config("polyroute.yaml"))
    resp = litellm.completion(model="polyroute/llama-3.3-70b", messages=[{"role": "user", "content": "hi"}])
    resp.route["provider"], resp._hidden_params["response_cost"]

In a LiteLLM proxy ``config.yaml``, name the module-level handler, which loads the polyroute
config named by the ``POLYROUTE_CONFIG`` environment variable::

    litellm_settings:
      custom_provider_map:
        - {provider: polyroute, custom_handler: litellm_polyroute.polyroute_handler}
"""

from __future__ import annotations

from litellm_polyroute._registration import register
from litellm_polyroute._response import ROUTE_FIELD
from litellm_polyroute.errors import to_litellm_error
from litellm_polyroute.handler import CONFIG_ENV, PROVIDER, PolyrouteLLM, polyroute_handler

__version__ = "0.1.0"

__all__ = [
    "CONFIG_ENV",
    "PROVIDER",
    "ROUTE_FIELD",
    "PolyrouteLLM",
    "__version__",
    "polyroute_handler",
    "register",
    "to_litellm_error",
]
