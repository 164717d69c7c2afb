"""A polyroute response written into LiteLLM's ``ModelResponse``, with its cost and route."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from litellm.types.utils import Choices, Message, ModelResponse, Usage

from polyroute import ChatCompletion, ChatMessage, Choice, Route
from polyroute import Usage as PolyrouteUsage

__all__ = ["ROUTE_FIELD", "fill_model_response", "litellm_usage_fields"]

#: the response field (and streamed chunk field) that carries polyroute's route as JSON
ROUTE_FIELD = "route"


def litellm_usage_fields(usage: PolyrouteUsage, cost: Decimal | None) -> dict[str, Any]:
    """Usage in OpenAI's shape, plus ``cost`` (USD) the way OpenRouter reports it.

    LiteLLM reads ``usage.cost`` as the provider-reported cost of the call, so polyroute's
    total (failed attempts included) becomes LiteLLM's ``response_cost``.
    """
    fields: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.prompt_tokens_details is not None:
        fields["prompt_tokens_details"] = dict(usage.prompt_tokens_details)
    if usage.completion_tokens_details is not None:
        fields["completion_tokens_details"] = dict(usage.completion_tokens_details)
    if cost is not None:
        fields["cost"] = float(cost)
    return fields


def _message(message: ChatMessage) -> Message:
    tool_calls = [call.model_dump() for call in message.tool_calls] if message.tool_calls else None
    return Message(
        content=message.content,
        role="assistant",
        tool_calls=tool_calls,
        reasoning_content=message.reasoning,
    )


def _choice(choice: Choice) -> Choices:
    return Choices(
        finish_reason=choice.finish_reason,
        index=choice.index,
        message=_message(choice.message),
        logprobs=choice.logprobs,
    )


def fill_model_response(model_response: ModelResponse, completion: ChatCompletion) -> ModelResponse:
    """Write ``completion`` into the ``ModelResponse`` LiteLLM created for the call.

    The cost goes to ``_hidden_params["response_cost"]`` (where LiteLLM's cost tracking looks
    first) and to ``usage.cost``; the route (served provider, endpoint, every attempt, cost) is
    the response's ``route`` field, which LiteLLM's proxy returns in its JSON.
    """
    route: Route | None = completion.route
    usage = completion.usage or (route.usage if route is not None else None)
    cost = route.cost if route is not None else None
    if completion.id:
        model_response.id = completion.id
    if completion.created:
        model_response.created = completion.created
    model_response.model = completion.model or model_response.model
    if completion.system_fingerprint is not None:
        model_response.system_fingerprint = completion.system_fingerprint
    model_response.choices = [_choice(choice) for choice in completion.choices]
    if usage is not None:
        model_response.usage = Usage(**litellm_usage_fields(usage, cost))  # type: ignore[attr-defined]
    if cost is not None:
        model_response._hidden_params["response_cost"] = float(cost)
    if route is not None:
        setattr(model_response, ROUTE_FIELD, route.model_dump(mode="json"))
    return model_response
