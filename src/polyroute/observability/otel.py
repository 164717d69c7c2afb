"""OpenTelemetry tracing: a span per call, a child span per attempt (GenAI semantic conventions).

Needs the ``otel`` extra (``pip install 'polyroute[otel]'``: the OpenTelemetry API); the
application configures the SDK and its exporters as usual. Spans nest under the span that is
current when the call is made (``completion()`` / ``acompletion()``), so a LangChain chain or
a LlamaIndex query shows polyroute's attempts inside its own trace; a stream's spans end when
its last chunk arrives, whenever it is read. See ``docs/observability.md`` for every attribute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "polyroute's OpenTelemetry tracing needs the OpenTelemetry API: pip install 'polyroute[otel]'"
    ) from exc

from polyroute._request import ChatRequest
from polyroute._types import Attempt, Route
from polyroute.errors import PolyrouteError
from polyroute.observability._watch import (
    CallWatch,
    Ended,
    Fields,
    attempt_fields,
    call_fields,
    input_messages,
    output_messages,
    start_fields,
    static_fields,
)

if TYPE_CHECKING:
    from polyroute._router import Router
    from polyroute.routing._planner import Plan

__all__ = ["OpenTelemetryObserver"]

_CLIENT = SpanKind.CLIENT
#: endpoints whose attempt span names and fixed attributes are kept (a bound, should a process
#: see endless reloads with new endpoints: then the cache starts again)
_STATICS_MAX = 4096


class OpenTelemetryObserver:
    """Traces every call and attempt (pass it in ``Router(observers=[...])``).

    ``tracer_provider`` defaults to the global one (``opentelemetry.trace.set_tracer_provider``).
    With ``capture_content=True`` the call span also records the prompt and the reply as
    ``gen_ai.input.messages`` and ``gen_ai.output.messages`` (JSON, the GenAI conventions'
    shape): off by default, as prompts and replies may hold personal data.
    """

    __slots__ = ("_statics", "_tracer", "capture_content")
    #: followed through the per-call observers ``on_call_start`` returns (see ``Observers``)
    call_start_only = True

    def __init__(self, *, tracer_provider: TracerProvider | None = None, capture_content: bool = False) -> None:
        from polyroute import __version__

        self._tracer = trace.get_tracer("polyroute", __version__, tracer_provider=tracer_provider)
        self.capture_content = capture_content
        #: (operation, model, provider, endpoint model) -> an attempt span's name and fixed attributes
        self._statics: dict[tuple[str, str, str, str], tuple[str, Fields]] = {}

    def on_call_start(self, router: Router, request: ChatRequest, request_id: str, plan: Plan) -> _TracedCall | None:
        """Open the call's span under the current one (nothing when tracing is not recording)."""
        fields = start_fields(request, request_id, plan)
        op = fields["gen_ai.operation.name"]
        if self.capture_content and op == "chat":
            fields["gen_ai.input.messages"] = input_messages(request.messages)
        span = self._tracer.start_span(f"{op} {request.models[0]}", kind=_CLIENT, attributes=fields)
        if not span.is_recording():
            return None
        traced = _CapturingCall if self.capture_content else _TracedCall
        return traced(self, span, router, request, plan, capture_content=self.capture_content)

    def on_attempt(self, request: ChatRequest, request_id: str, attempt: object) -> None:
        """Attempts are traced by the call's own observer."""

    def on_call(self, request: ChatRequest, route: object, error: PolyrouteError | None) -> None:
        """Calls are traced by the call's own observer."""

    def _static(self, op: str, attempt: Attempt) -> tuple[str, Fields]:
        """An attempt span's name and the attributes every attempt at its endpoint has."""
        key = (op, attempt.model, attempt.provider, attempt.endpoint_model)
        found = self._statics.get(key)
        if found is None:
            if len(self._statics) >= _STATICS_MAX:
                self._statics.clear()
            fields = static_fields(attempt.model, attempt.provider, attempt.endpoint_model, op)
            found = self._statics[key] = (f"{op} {attempt.endpoint_model}", fields)
        return found

    def __repr__(self) -> str:
        return f"OpenTelemetryObserver(capture_content={self.capture_content})"


class _TracedCall(CallWatch):
    """One call's span, and a child span per attempt made when the attempt is closed.

    An attempt span is started and ended in one go (its start and end times given, every
    attribute passed when it starts), once its breaker has its verdict: nothing of the SDK runs
    while the attempt does.
    """

    __slots__ = ("_context", "_observer", "_span")

    def __init__(
        self,
        observer: OpenTelemetryObserver,
        span: trace.Span,
        router: Router,
        request: ChatRequest,
        plan: Plan,
        *,
        capture_content: bool,
    ) -> None:
        super().__init__(router, request, plan, capture_content=capture_content)
        self._observer = observer
        self._span = span
        #: the context the call started in, with its span as the attempts' parent
        self._context = trace.set_span_in_context(span)

    def closed(self, ended: Ended, breaker: str) -> None:
        attempt, outcome, _, _, start_ns, end_ns = ended
        observer = self._observer
        found = observer._statics.get((self.op, attempt.model, attempt.provider, attempt.endpoint_model))
        name, static = found if found is not None else observer._static(self.op, attempt)
        reason = None if outcome == "skipped" else self.reason(ended)
        fields = attempt_fields(static, ended, reason, breaker)
        span = observer._tracer.start_span(name, self._context, _CLIENT, fields, start_time=start_ns)
        if outcome == "error":
            span.set_status(Status(StatusCode.ERROR, attempt.error))
        span.end(end_time=end_ns)

    def ended(self, route: Route | None, error: PolyrouteError | None) -> None:
        span = self._span
        span.set_attributes(call_fields(route, error))
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()


class _CapturingCall(_TracedCall):
    """A traced call that records the reply too (``capture_content=True``)."""

    __slots__ = ()

    def on_output(self, request: ChatRequest, request_id: str, reply: Any) -> None:
        """The serving reply: recorded on the call's span."""
        messages = output_messages(reply)
        if messages is not None:
            self._span.set_attribute("gen_ai.output.messages", messages)
