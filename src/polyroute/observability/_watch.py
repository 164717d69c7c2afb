"""Following one call: the fields of its attempts and of the call, as spans and log records carry them.

A :class:`CallWatch` is the per-call observer that tracing and logging return from
``on_call_start``. It numbers the attempts, knows why the plan put each endpoint where it was
(the candidate's reason), how long the call waited before a retry, and, once the execution has
given its verdict on an endpoint, the state of that endpoint's circuit breaker. Subclasses turn
the fields into spans (:mod:`polyroute.observability.otel`) or log records
(:mod:`polyroute.observability._logs`).

Field names follow the OpenTelemetry GenAI semantic conventions (``gen_ai.*``, ``error.type``)
plus polyroute's own (``polyroute.*``); prompts and completions are never among them unless the
observer was asked to capture content.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from polyroute._request import ChatRequest
from polyroute._types import Attempt, Route, Usage
from polyroute.catalog._catalog import Endpoint
from polyroute.errors import PolyrouteError

if TYPE_CHECKING:
    from polyroute._router import Router
    from polyroute.routing._planner import Plan

__all__ = [
    "CallWatch",
    "Ended",
    "Fields",
    "attempt_fields",
    "attempt_outcome",
    "call_fields",
    "end_fields",
    "input_messages",
    "opening_fields",
    "operation",
    "output_messages",
    "plan_reason",
    "start_fields",
    "static_fields",
    "usage_fields",
]

#: attribute values as OpenTelemetry takes them
Fields = dict[str, Any]

#: request parameters recorded as ``gen_ai.request.*`` attributes
_REQUEST_PARAMS = (
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("max_completion_tokens", "gen_ai.request.max_tokens"),
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
    ("seed", "gen_ai.request.seed"),
)
#: a request parameter's name -> its attribute (``max_completion_tokens`` wins over ``max_tokens``)
_PARAM_ATTRS = dict(_REQUEST_PARAMS)


def attempt_outcome(attempt: Attempt) -> str:
    """``success``, ``error``, ``skipped`` or ``cancelled`` (stopped by polyroute or the caller)."""
    if attempt.outcome == "error" and attempt.error == "Cancelled":
        return "cancelled"
    return attempt.outcome


def usage_fields(usage: Usage | None, out: Fields) -> None:
    """Token counts, as ``gen_ai.usage.*`` and ``polyroute.usage.*``."""
    if usage is None:
        return
    out["gen_ai.usage.input_tokens"] = usage.prompt_tokens
    out["gen_ai.usage.output_tokens"] = usage.completion_tokens
    if usage.prompt_tokens_details:
        out["polyroute.usage.cached_tokens"] = usage.cached_tokens
        write = usage.cache_write_tokens
        if write:
            out["polyroute.usage.cache_write_tokens"] = write
    if usage.completion_tokens_details:
        out["polyroute.usage.reasoning_tokens"] = usage.reasoning_tokens


def operation(request: ChatRequest) -> str:
    """``gen_ai.operation.name``: ``chat``, or ``embeddings`` for an embeddings call."""
    return "embeddings" if request.kind == "embedding" else "chat"


def start_fields(request: ChatRequest, request_id: str, plan: Plan) -> Fields:
    """A call's fields known when it starts."""
    models = request.models
    out: Fields = {
        "gen_ai.operation.name": "embeddings" if request.kind == "embedding" else "chat",
        "gen_ai.request.model": models[0],
        "polyroute.request_id": request_id,
        "polyroute.stream": request.stream,
    }
    if len(models) > 1:
        out["polyroute.request.models"] = models
    params = request.params
    if params:
        for name, value in params.items():
            attr = _PARAM_ATTRS.get(name)
            if attr is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                if name == "max_tokens":
                    out.setdefault(attr, value)
                else:
                    out[attr] = value
    return out


def call_fields(route: Route | None, error: PolyrouteError | None) -> Fields:
    """A call's fields known when it ends."""
    if route is not None:
        attempts: Sequence[Attempt] = route.attempts
        if len(attempts) == 1:
            served: Attempt | None = attempts[0]
            fallbacks = 1 if attempts[0].outcome == "error" else 0
        else:
            served = attempts[-1] if attempts else None
            fallbacks = sum(1 for a in attempts if a.outcome == "error")
        out: Fields = {
            "polyroute.attempts": len(attempts),
            "polyroute.fallbacks": fallbacks,
            "polyroute.outcome": "success",
            "gen_ai.provider.name": route.provider,
            "gen_ai.response.model": route.endpoint_model,
            "polyroute.model": route.model,
            "polyroute.endpoint": f"{route.provider}/{route.endpoint_model}",
        }
        if route.cost is not None:
            out["polyroute.cost_usd"] = float(route.cost)
        if route.usage is not None:
            usage_fields(route.usage, out)
        if served is not None and served.finish_reasons:
            out["gen_ai.response.finish_reasons"] = served.finish_reasons
        return out
    attempts = error.attempts if error is not None else ()
    name = type(error).__name__
    out = {
        "polyroute.attempts": len(attempts),
        "polyroute.fallbacks": sum(1 for a in attempts if a.outcome == "error"),
        "polyroute.outcome": "cancelled" if name == "Cancelled" else "error",
        "error.type": name,
    }
    costs = [a.cost for a in attempts if a.cost is not None]
    if costs:
        out["polyroute.cost_usd"] = float(sum(costs))
    return out


def static_fields(model: str, provider: str, endpoint_model: str, op: str = "chat") -> Fields:
    """An attempt's fields that depend on its endpoint alone (the same for every attempt there)."""
    return {
        "gen_ai.operation.name": op,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": endpoint_model,
        "polyroute.model": model,
        "polyroute.endpoint": f"{provider}/{endpoint_model}",
    }


def opening_fields(model: str, provider: str, endpoint_model: str, number: int, op: str = "chat") -> Fields:
    """An attempt's fields known when it is sent."""
    fields = static_fields(model, provider, endpoint_model, op)
    fields["polyroute.attempt.number"] = number
    return fields


def end_fields(attempt: Attempt, outcome: str, out: Fields | None = None) -> Fields:
    """A sent attempt's fields known when it ends (the breaker's state apart), added to ``out``
    (a new dict when ``None``)."""
    fields: Fields = {} if out is None else out
    fields["polyroute.attempt.outcome"] = outcome
    if attempt.retry:
        fields["polyroute.attempt.retry"] = attempt.retry
    if outcome == "error":
        fields["error.type"] = attempt.error
        if attempt.status is not None:
            fields["http.response.status_code"] = attempt.status
    elif outcome == "success":
        fields["gen_ai.response.model"] = attempt.endpoint_model
        if attempt.finish_reasons:
            fields["gen_ai.response.finish_reasons"] = attempt.finish_reasons
    if attempt.ttft_s is not None:
        fields["polyroute.ttft_s"] = attempt.ttft_s
    if attempt.usage is not None:
        usage_fields(attempt.usage, fields)
    if attempt.cost is not None:
        fields["polyroute.cost_usd"] = float(attempt.cost)
    return fields


#: an attempt that ended (or was skipped), as :class:`CallWatch` followed it: ``(attempt,
#: outcome, number, delay, start_ns, end_ns)``: its record, the outcome as
#: :func:`attempt_outcome` says, 1, 2, ... within the call, the seconds since the previous attempt
#: at the same endpoint ended (``None``: the first there), and the wall-clock nanoseconds at its
#: start and end (the same for a skipped attempt). A plain tuple: one is made per attempt.
Ended = tuple[Attempt, str, int, float | None, int, int]


def attempt_fields(static: Fields, ended: Ended, reason: str | None, breaker: str) -> Fields:
    """Every field of an ended (or skipped) attempt: ``static`` (:func:`static_fields`, copied)
    plus its number, why it was tried, how long it waited, how it ended and its breaker's state."""
    attempt, outcome, number, delay, _, _ = ended
    if outcome == "skipped":
        return {
            **static,
            "polyroute.attempt.number": number,
            "polyroute.attempt.outcome": "skipped",
            "polyroute.skip.reason": attempt.error,
            "polyroute.breaker.state": breaker,
        }
    fields = {**static, "polyroute.attempt.number": number, "polyroute.breaker.state": breaker}
    if reason is not None:
        fields["polyroute.route.reason"] = reason
    if delay is not None:
        fields["polyroute.retry.delay_s"] = delay
    return end_fields(attempt, outcome, fields)


def plan_reason(plan: Plan, model: str, provider: str, endpoint_model: str) -> str | None:
    """Why the plan put the endpoint (serving ``model``) where it was."""
    for cand in plan.candidates:
        ep = cand.endpoint
        if ep.model == endpoint_model and ep.provider == provider and cand.model == model:
            return cand.reason
    return None


class CallWatch:
    """One call's attempts, numbered and explained; subclasses say what to do with them.

    The bookkeeping is all this does while the call runs (no fields are built): an attempt's
    number, start time and retry delay when it is sent, its end time when it ends; at the next
    hook (the execution has given its verdict by then) the endpoint's breaker state is read and
    :meth:`closed` is told everything about the attempt at once.
    """

    __slots__ = (
        "_ended",
        "_health",
        "_now",
        "_number",
        "_open",
        "_pending",
        "_plan",
        "capture_content",
        "op",
        "request",
    )

    def __init__(self, router: Router, request: ChatRequest, plan: Plan, *, capture_content: bool = False) -> None:
        self.request = request
        self.capture_content = capture_content
        #: ``gen_ai.operation.name``
        self.op = "embeddings" if request.kind == "embedding" else "chat"
        self._plan = plan
        self._health = router.health
        self._now = router.clock.monotonic
        self._number = 0
        #: (provider, endpoint model) -> monotonic time its last attempt ended, for retry delays
        self._ended: dict[tuple[str, str], float] | None = None
        #: attempts running now (two overlap when hedged): (provider, endpoint model, number,
        #: retry delay, wall ns at the start)
        self._open: list[tuple[str, str, int, float | None, int]] = []
        #: ended attempts waiting for the breaker's verdict
        self._pending: list[Ended] = []

    # -- what subclasses do --------------------------------------------------------------------

    #: whether :meth:`opened` does anything (it is not called otherwise)
    opens = False

    def opened(self, model: str, endpoint: Endpoint) -> None:
        """An attempt is being sent to ``endpoint`` (before it is numbered), when :attr:`opens`."""

    def closed(self, ended: Ended, breaker: str) -> None:
        """An attempt ended (or was skipped); ``breaker`` is its endpoint's breaker state after it."""
        raise NotImplementedError

    def ended(self, route: Route | None, error: PolyrouteError | None) -> None:
        """The call ended (its attempts are closed)."""
        raise NotImplementedError

    def reason(self, ended: Ended) -> str | None:
        """Why the plan put a sent attempt's endpoint where it was (``None`` for a skipped one)."""
        attempt, outcome = ended[0], ended[1]
        if outcome == "skipped":
            return None
        return plan_reason(self._plan, attempt.model, attempt.provider, attempt.endpoint_model)

    # -- observer hooks ------------------------------------------------------------------------

    def on_attempt_start(self, request: ChatRequest, request_id: str, model: str, endpoint: Endpoint) -> None:
        """An attempt is being sent: number it, note when it started and how long it waited."""
        if self._pending:
            self._flush()
        if self.opens:
            self.opened(model, endpoint)
        self._number = number = self._number + 1
        ended = self._ended
        if ended is None:
            self._open.append((endpoint.provider, endpoint.model, number, None, time.time_ns()))
            return
        provider, endpoint_model = endpoint.provider, endpoint.model
        last = ended.get((provider, endpoint_model))
        delay = None if last is None else max(self._now() - last, 0.0)
        self._open.append((provider, endpoint_model, number, delay, time.time_ns()))

    def on_attempt(self, request: ChatRequest, request_id: str, attempt: Attempt) -> None:
        """An attempt ended (or was skipped): closed once its breaker has its verdict."""
        if self._pending:
            self._flush()
        end_ns = time.time_ns()
        outcome: str = attempt.outcome
        if outcome == "skipped":
            self._number += 1
            self._pending.append((attempt, outcome, self._number, None, end_ns, end_ns))
            return
        if outcome == "error" and attempt.error == "Cancelled":
            outcome = "cancelled"
        provider, endpoint_model = attempt.provider, attempt.endpoint_model
        running = self._open
        for i, entry in enumerate(running):
            if entry[0] == provider and entry[1] == endpoint_model:
                del running[i]
                break
        else:
            return
        now = self._now()
        if self._ended is None:
            self._ended = {(provider, endpoint_model): now}
        else:
            self._ended[(provider, endpoint_model)] = now
        self._pending.append((attempt, outcome, entry[2], entry[3], entry[4], end_ns))

    def on_call(self, request: ChatRequest, route: Route | None, error: PolyrouteError | None) -> None:
        """The call ended: close what ended, then the call."""
        if self._pending:
            self._flush()
        self.ended(route, error)

    def _flush(self) -> None:
        """Close the attempts that ended, with their endpoints' breaker states as they are now."""
        pending, self._pending = self._pending, []
        now = self._now()
        breaker = self._health.breaker
        for ended in pending:
            attempt = ended[0]
            self.closed(ended, breaker(f"{attempt.provider}/{attempt.endpoint_model}").state_at(now))


def _parts(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A chat message's content as the GenAI conventions' parts."""
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if isinstance(content, str):
        parts.append({"type": "text", "content": content})
    elif isinstance(content, list):
        for item in content:
            if isinstance(item, Mapping) and item.get("type") == "text":
                parts.append({"type": "text", "content": item.get("text")})
            elif isinstance(item, Mapping):
                parts.append({"type": str(item.get("type"))})  # images, audio, files: their kind only
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": function.get("arguments"),
            }
        )
    if message.get("role") == "tool":
        parts = [{"type": "tool_call_response", "id": message.get("tool_call_id"), "response": content}]
    return parts


def input_messages(messages: Sequence[Mapping[str, Any]]) -> str:
    """The prompt as ``gen_ai.input.messages`` holds it (JSON; only when content is captured)."""
    import json

    out = [{"role": m.get("role"), "parts": _parts(m)} for m in messages if isinstance(m, Mapping)]
    return json.dumps(out, default=str, ensure_ascii=False)


def output_messages(reply: Any) -> str | None:
    """The reply as ``gen_ai.output.messages`` holds it: a ``ChatCompletion``'s choices, or a
    stream relay's text (JSON; only when content is captured)."""
    import json

    choices = getattr(reply, "choices", None)
    if choices is None and not hasattr(reply, "text"):
        return None  # not a chat reply (embeddings)
    if isinstance(choices, list):
        out = [
            {"role": "assistant", "parts": _parts(c.message.model_dump()), "finish_reason": c.finish_reason}
            for c in choices
        ]
    else:
        reasons = getattr(reply, "finish_reasons", ())
        out = [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": getattr(reply, "text", "")}],
                "finish_reason": reasons[0] if reasons else None,
            }
        ]
    return json.dumps(out, default=str, ensure_ascii=False)
