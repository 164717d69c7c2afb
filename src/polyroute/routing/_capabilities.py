"""What a request needs from an endpoint, and what an endpoint declares it supports.

Endpoints declare ``capabilities`` in configuration (``[tools, tool_choice, json_schema,
json_object, vision, streaming]``); an endpoint that declares none is assumed to support
everything. A request needs ``tools`` when it sends tools, ``tool_choice`` when it sets one,
``json_schema`` / ``json_object`` for those response formats, ``vision`` when a message carries
an image, ``streaming`` when it streams. Other declared names are kept but never required.
"""

from __future__ import annotations

from collections.abc import Mapping

from polyroute._request import ChatRequest
from polyroute.catalog._catalog import Endpoint

__all__ = ["FEATURES", "missing_features", "required_features"]

FEATURES = ("tools", "tool_choice", "json_schema", "json_object", "vision", "streaming")
_NONE: frozenset[str] = frozenset()


def _has_image(request: ChatRequest) -> bool:
    for m in request.messages:
        content = m.get("content")
        if isinstance(content, list):
            for part in content:
                if isinstance(part, Mapping) and part.get("type") in ("image_url", "input_image"):
                    return True
    return False


def required_features(request: ChatRequest) -> frozenset[str]:
    """The features (from :data:`FEATURES`) this request uses."""
    params = request.params
    needs: set[str] = set()
    if params:
        if params.get("tools"):
            needs.add("tools")
        if params.get("tool_choice") is not None:
            needs.add("tool_choice")
        fmt = params.get("response_format")
        if isinstance(fmt, Mapping) and fmt.get("type") in ("json_schema", "json_object"):
            needs.add(fmt["type"])
    if request.stream:
        needs.add("streaming")
    if _has_image(request):
        needs.add("vision")
    return frozenset(needs) if needs else _NONE


def missing_features(endpoint: Endpoint, needs: frozenset[str]) -> frozenset[str]:
    """Which of ``needs`` the endpoint declares it lacks (nothing, if it declares no capabilities)."""
    declared = endpoint.capabilities
    if declared is None or not needs:
        return _NONE
    return needs - declared
