"""What to bill for a stream the caller left before the provider reported usage."""

from __future__ import annotations

import math

from polyroute._request import ChatRequest
from polyroute._types import Usage
from polyroute.routing._tokens import PromptSize

__all__ = ["delivered_usage"]

#: bytes per token for the delivered text: a conservative rate (natural text runs about 4)
_BYTES_PER_TOKEN = 3


def delivered_usage(request: ChatRequest, delivered_text: str) -> Usage:
    """An estimate of an abandoned stream's usage: the prompt (its conservative upper estimate)
    and the text delivered so far, at about 3 bytes a token; marked ``estimated`` (the ledger says so).

    Providers bill a stream cut short for its prompt and for what they generated, and stop
    generating soon after the connection closes; polyroute bills what reached the caller."""
    tools = request.params.get("tools")
    prompt = PromptSize(request.messages, tools if isinstance(tools, list) else None).upper
    completion = math.ceil(len(delivered_text.encode("utf-8")) / _BYTES_PER_TOKEN)
    return Usage(prompt, completion, prompt + completion, estimated=True)
