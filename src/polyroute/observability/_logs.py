"""Structured log records of attempts and fail-overs, through the standard :mod:`logging` module.

Every router logs (it costs a level check when the loggers are quiet):

- ``polyroute.attempt`` at DEBUG: one record per attempt when it ends (skipped ones included);
- ``polyroute.failover`` at INFO: one record each time a call leaves an endpoint that failed
  for another one;
- ``polyroute.call`` at DEBUG: one record per call.

A record's fields are the span's attributes (``gen_ai.*``, ``polyroute.*``, ``error.type``),
passed in ``extra``: ``getattr(record, "polyroute.endpoint")``, or every field with a JSON
formatter. Records never hold secrets, and never the prompt or the completion.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from polyroute._request import ChatRequest
from polyroute._types import Attempt, Route
from polyroute.catalog._catalog import Endpoint
from polyroute.errors import PolyrouteError
from polyroute.observability._watch import (
    CallWatch,
    Ended,
    Fields,
    attempt_fields,
    attempt_outcome,
    call_fields,
    end_fields,
    opening_fields,
    plan_reason,
    start_fields,
    static_fields,
)

if TYPE_CHECKING:
    from polyroute._router import Router
    from polyroute.routing._planner import Plan

__all__ = ["LogObserver"]

ATTEMPT = logging.getLogger("polyroute.attempt")
FAILOVER = logging.getLogger("polyroute.failover")
CALL = logging.getLogger("polyroute.call")


class LogObserver:
    """Logs attempts (DEBUG), fail-overs (INFO) and calls (DEBUG); every router has one."""

    __slots__ = ()
    #: followed through the per-call observers ``on_call_start`` returns (see ``Observers``)
    call_start_only = True

    def on_call_start(
        self, router: Router, request: ChatRequest, request_id: str, plan: Plan
    ) -> _LoggedCall | _Failovers | None:
        """Follow the call only as far as the loggers would emit."""
        if ATTEMPT.isEnabledFor(logging.DEBUG) or CALL.isEnabledFor(logging.DEBUG):
            return _LoggedCall(router, request, plan, start_fields(request, request_id, plan))
        if FAILOVER.isEnabledFor(logging.INFO):
            return _Failovers(router, request_id, plan)
        return None

    def on_attempt(self, request: ChatRequest, request_id: str, attempt: object) -> None:
        """Attempts are logged by the call's own observer."""

    def on_call(self, request: ChatRequest, route: object, error: PolyrouteError | None) -> None:
        """Calls are logged by the call's own observer."""


class _LoggedCall(CallWatch):
    """One call's records: its start fields are added to each."""

    __slots__ = ("_call", "_failed")
    opens = True

    def __init__(self, router: Router, request: ChatRequest, plan: Plan, call: Fields) -> None:
        super().__init__(router, request, plan)
        self._call: Fields = {k: call[k] for k in ("polyroute.request_id", "polyroute.stream") if k in call}
        #: the last attempt that failed, until the call moves on
        self._failed: Fields | None = None

    def opened(self, model: str, endpoint: Endpoint) -> None:
        failed = self._failed
        if failed is not None:
            self._failed = None
            key = endpoint.key
            if failed["polyroute.endpoint"] != key and FAILOVER.isEnabledFor(logging.INFO):
                extra: Fields = {**failed, "polyroute.failover.to": key}
                FAILOVER.info(
                    "polyroute failed over from %s (%s) to %s",
                    failed["polyroute.endpoint"],
                    failed.get("error.type"),
                    key,
                    extra=extra,
                )

    def closed(self, ended: Ended, breaker: str) -> None:
        attempt, outcome, number, _, _, _ = ended
        static = static_fields(attempt.model, attempt.provider, attempt.endpoint_model, self.op)
        out: Fields = {**self._call, **attempt_fields(static, ended, self.reason(ended), breaker)}
        if outcome == "error":
            self._failed = out
        if ATTEMPT.isEnabledFor(logging.DEBUG):
            ATTEMPT.debug(
                "polyroute attempt %s at %s: %s",
                number,
                out["polyroute.endpoint"],
                out.get("error.type") or out.get("polyroute.skip.reason") or outcome,
                extra=out,
            )

    def ended(self, route: Route | None, error: PolyrouteError | None) -> None:
        if CALL.isEnabledFor(logging.DEBUG):
            out: Fields = {**self._call, **call_fields(route, error)}
            CALL.debug(
                "polyroute call %s: %s", out["polyroute.request_id"], out.get("error.type") or "success", extra=out
            )


class _Failovers:
    """A call's fail-over records alone (INFO without DEBUG): no work until an attempt fails."""

    __slots__ = ("_failed", "_health", "_now", "_number", "_plan", "_request_id")

    def __init__(self, router: Router, request_id: str, plan: Plan) -> None:
        self._request_id = request_id
        self._plan = plan
        self._health = router.health
        self._now = router.clock.monotonic
        self._number = 0
        #: the last attempt that failed and its number, until the call moves on
        self._failed: tuple[Attempt, int] | None = None

    def on_attempt_start(self, request: ChatRequest, request_id: str, model: str, endpoint: Endpoint) -> None:
        failed = self._failed
        if failed is None:
            return
        self._failed = None
        attempt, number = failed
        key = f"{attempt.provider}/{attempt.endpoint_model}"
        if key == endpoint.key:
            return  # a retry at the same endpoint
        fields = opening_fields(attempt.model, attempt.provider, attempt.endpoint_model, number)
        reason = plan_reason(self._plan, attempt.model, attempt.provider, attempt.endpoint_model)
        if reason is not None:
            fields["polyroute.route.reason"] = reason
        end_fields(attempt, "error", fields)
        fields["polyroute.breaker.state"] = self._health.breaker(key).state_at(self._now())
        fields["polyroute.request_id"] = self._request_id
        fields["polyroute.failover.to"] = endpoint.key
        FAILOVER.info("polyroute failed over from %s (%s) to %s", key, attempt.error, endpoint.key, extra=fields)

    def on_attempt(self, request: ChatRequest, request_id: str, attempt: Attempt) -> None:
        self._number += 1
        outcome = attempt_outcome(attempt)
        if outcome == "error":
            self._failed = (attempt, self._number)
        elif outcome != "skipped":
            self._failed = None

    def on_call(self, request: ChatRequest, route: Route | None, error: PolyrouteError | None) -> None:
        return None
