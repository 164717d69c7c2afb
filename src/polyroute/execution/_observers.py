"""Observers of calls and attempts, and the one place they are told about them.

A :class:`CallObserver` is told about every attempt and every finished call (the live
statistics, sticky sessions, the ledger, tracing and metrics are observers). Two hooks are
optional:

- ``on_attempt_start(request, request_id, model, endpoint)``: an attempt is being sent (before
  its ``on_attempt``);
- ``on_call_start(router, request, request_id, plan)``: a call is starting (before anything is
  sent); it may return an observer of *this call only*, which then gets the call's
  ``on_attempt_start`` / ``on_attempt`` / ``on_call`` (tracing keeps its spans there), and
  ``on_output(request, request_id, reply)`` if it defines it (content capture: the serving
  reply, a ``ChatCompletion`` or a stream's relay with its ``text``), just before its
  ``on_attempt``.

:class:`Observers` finds the hooks once per router and calls them; an observer that raises is
logged (logger ``polyroute``) and ignored: observing never breaks a call. An observer whose
class sets ``call_start_only = True`` is only asked ``on_call_start``: its own ``on_attempt`` and
``on_call`` are never called (it follows each call through the observer it returns), which saves
two calls per call and attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from polyroute._request import ChatRequest
from polyroute._types import Attempt, Route
from polyroute.catalog._catalog import Endpoint
from polyroute.errors import PolyrouteError

if TYPE_CHECKING:
    from polyroute.routing._planner import Plan

__all__ = ["AttemptStarter", "CallObserver", "CallStarter", "Observers"]

log = logging.getLogger("polyroute")


class CallObserver(Protocol):
    """Told about every attempt and every finished call (ledger, statistics, tracing).

    Observers must not raise; if one does, the error is logged and the call goes on. An observer
    may also define ``on_attempt_start(request, request_id, model, endpoint)``, called when an
    attempt is sent (before its ``on_attempt``); the live statistics use it to count requests in
    flight. And it may define ``on_call_start(router, request, request_id, plan)``, called when
    a call starts, returning an observer of that call alone (or ``None``): tracing uses it to
    keep a call's spans together.
    """

    def on_attempt(self, request: ChatRequest, request_id: str, attempt: Attempt) -> None:
        """An attempt ended (or was skipped)."""
        ...

    def on_call(self, request: ChatRequest, route: Route | None, error: PolyrouteError | None) -> None:
        """The call ended: with ``route`` on success, with ``error`` otherwise."""
        ...


#: an observer's ``on_attempt_start(request, request_id, model, endpoint)`` hook
AttemptStarter = Callable[[ChatRequest, str, str, Endpoint], None]
#: an observer's ``on_call_start(router, request, request_id, plan)`` hook
CallStarter = Callable[[Any, ChatRequest, str, "Plan"], "CallObserver | None"]


def _notify(hooks: Sequence[Callable[..., None]], *args: Any) -> None:
    """Call each hook with ``args``; an observer's error is logged, never raised."""
    for hook in hooks:
        try:
            hook(*args)
        except Exception:
            log.exception("polyroute observer failed: %s", getattr(hook, "__qualname__", hook))


class Observers:
    """The observers of a router (or of one call), their hooks found once."""

    __slots__ = ("_attempts", "_calls", "_starters", "call_starters", "observers", "outputs")

    def __init__(
        self, observers: Sequence[CallObserver] = (), *, starters: Sequence[AttemptStarter] | None = None
    ) -> None:
        self.observers = tuple(observers)
        # an observer that follows calls only through the observers its on_call_start returns
        # (``call_start_only = True``: tracing, metrics, logs) is not told about them itself
        told = tuple(o for o in self.observers if not getattr(o, "call_start_only", False))
        self._attempts = tuple(o.on_attempt for o in told)
        self._calls = tuple(o.on_call for o in told)
        #: the ``on_attempt_start`` hooks (``starters``, when given, replace the observers' own)
        self._starters: tuple[AttemptStarter, ...] = (
            tuple(starters)
            if starters is not None
            else tuple(f for o in self.observers if (f := getattr(o, "on_attempt_start", None)) is not None)
        )
        #: the observers' ``on_call_start`` hooks
        self.call_starters: tuple[CallStarter, ...] = tuple(
            f for o in self.observers if (f := getattr(o, "on_call_start", None)) is not None
        )
        #: the observers' ``on_output(request, request_id, reply)`` hooks (content capture)
        self.outputs: tuple[Callable[..., None], ...] = tuple(
            f for o in self.observers if (f := getattr(o, "on_output", None)) is not None
        )

    def for_call(self, router: Any, request: ChatRequest, request_id: str, plan: Plan) -> Observers:
        """The observers of one call: these, plus those the ``on_call_start`` hooks return."""
        if not self.call_starters:
            return self
        extra: list[CallObserver] | None = None
        for start in self.call_starters:
            try:
                obs = start(router, request, request_id, plan)
            except Exception:
                log.exception("polyroute observer failed: %s", getattr(start, "__qualname__", start))
                continue
            if obs is not None:
                if extra is None:
                    extra = [obs]
                else:
                    extra.append(obs)
        if extra is None:
            return self
        call = Observers.__new__(Observers)
        call.observers = (*self.observers, *extra)
        call.call_starters = ()
        attempts, calls, starters, outputs = self._attempts, self._calls, self._starters, self.outputs
        for o in extra:
            attempts += (o.on_attempt,)
            calls += (o.on_call,)
            if (f := getattr(o, "on_attempt_start", None)) is not None:
                starters += (f,)
            if (f := getattr(o, "on_output", None)) is not None:
                outputs += (f,)
        call._attempts, call._calls, call._starters, call.outputs = attempts, calls, starters, outputs
        return call

    def attempt_started(self, request: ChatRequest, request_id: str, model: str, endpoint: Endpoint) -> None:
        """An attempt is being sent to ``endpoint``."""
        if self._starters:
            _notify(self._starters, request, request_id, model, endpoint)

    def attempt(self, request: ChatRequest, request_id: str, attempt: Attempt) -> None:
        """An attempt ended (or was skipped)."""
        _notify(self._attempts, request, request_id, attempt)

    def call(self, request: ChatRequest, route: Route | None, error: PolyrouteError | None) -> None:
        """The call ended."""
        _notify(self._calls, request, route, error)

    def output(self, request: ChatRequest, request_id: str, reply: Any) -> None:
        """The reply that served the call (a ``ChatCompletion``, or a stream's relay)."""
        _notify(self.outputs, request, request_id, reply)
