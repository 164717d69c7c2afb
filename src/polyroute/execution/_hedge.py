"""Hedged requests: when the first attempt is slow to answer, race it against the next candidate.

If a call's first attempt has not produced its first token (its whole response, when not
streamed) within the hedge delay, the next candidate is started too; whichever answers first is
kept and the other is cancelled. Both attempts are recorded on the route: the loser as
``Cancelled``, with the prompt's estimated cost (a provider may bill a request it has read).
Failures while both run are recorded and not retried; if both fail the call moves on to the
next candidate as usual.

The delay is fixed, or a percentile of the first endpoint's observed time to first token (a
default until it has enough samples). Async calls only: a sync call cannot run two attempts at
once without threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from polyroute._clock import Clock
from polyroute._request import ChatRequest
from polyroute._types import ChatCompletion
from polyroute.backends._http import AsyncBackend
from polyroute.catalog._catalog import Endpoint, HedgeSettings
from polyroute.errors import InvalidRequest, ProviderError, ReadTimeout
from polyroute.execution._execution import Execution, Reserve, Send
from polyroute.execution._opening import Opening
from polyroute.health._stats import Stats

__all__ = ["PERCENTILES", "delay_policy", "parse_hedge", "race_complete", "race_streams"]

PERCENTILES = {"p50": 50.0, "p75": 75.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}
AsyncBackendFor = Callable[[str], AsyncBackend]
#: the attempt that answered first: its send, start time, result and (when streamed) opening
_Winner = tuple[Send, float, Any, Opening | None]


def parse_hedge(value: Any, settings: HedgeSettings) -> HedgeSettings | None:
    """The hedge settings for a call: the router's, or the request's ``hedge=`` override.

    ``hedge=True`` uses the router's policy (or p95 of time to first token if it has none);
    a number is a fixed delay in seconds; ``"p95"`` (``p50``..``p99``) a percentile; ``False``
    turns hedging off for the call.
    """
    if value is None:
        return settings if settings.enabled else None
    if value is False:
        return None
    if value is True:
        return settings if settings.enabled else HedgeSettings(percentile=95.0)
    if isinstance(value, str) and value in PERCENTILES:
        return HedgeSettings(
            percentile=PERCENTILES[value],
            default_delay=settings.default_delay,
            min_delay=settings.min_delay,
            max_delay=settings.max_delay,
            min_samples=settings.min_samples,
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return HedgeSettings(delay=float(value))
    raise InvalidRequest(
        f"must be true, false, a delay in seconds or one of {sorted(PERCENTILES)}, got {value!r}", param="hedge"
    )


def delay_policy(settings: HedgeSettings, stats: Stats, clock: Clock) -> Callable[[Endpoint], float]:
    """Seconds to wait on an endpoint before hedging, per ``settings``."""
    if settings.delay is not None:
        fixed = settings.delay
        return lambda endpoint: fixed
    name = f"p{settings.percentile:g}"

    def delay(endpoint: Endpoint) -> float:
        ttft = stats.signals(endpoint.key, clock.monotonic()).ttft
        observed = ttft.get(name) if ttft is not None and ttft.samples >= settings.min_samples else None
        seconds = settings.default_delay if observed is None else observed
        seconds = max(seconds, settings.min_delay)
        if settings.max_delay is not None:
            seconds = min(seconds, settings.max_delay)
        return seconds

    return delay


async def _complete(backend: AsyncBackend, send: Send, request: ChatRequest) -> ChatCompletion:
    if send.remaining is None:
        return await backend.acomplete(send.candidate.endpoint, request, send.timeouts)
    try:
        async with asyncio.timeout(max(send.remaining, 0.0)):
            return await backend.acomplete(send.candidate.endpoint, request, send.timeouts)
    except TimeoutError as exc:
        raise ReadTimeout("the call's deadline passed during this attempt") from exc


class _Race:
    """Attempts of one call running at once; the first to answer wins."""

    def __init__(self, execution: Execution, clock: Clock) -> None:
        self.execution = execution
        self.clock = clock
        self.running: dict[asyncio.Future[Any], tuple[Send, float, Opening | None]] = {}
        #: the hedge delay passed
        self.hedged = False
        #: a second attempt was started (failures are then not retried)
        self.pair = False

    def launch(self, send: Send, work: Coroutine[Any, Any, Any], opening: Opening | None = None) -> None:
        started = opening.started if opening is not None else self.clock.monotonic()
        self.running[asyncio.ensure_future(work)] = (send, started, opening)

    async def stop(self, winner: Send | None, message: str) -> None:
        """Cancel what still runs; record each as cancelled (the last one ends the call without a winner)."""
        items = list(self.running.items())
        self.running.clear()
        for task, _ in items:
            task.cancel()
        if items:
            await asyncio.gather(*(t for t, _ in items), return_exceptions=True)
        for i, (_, (send, started, opening)) in enumerate(items):
            if opening is not None:
                await opening.close()
            if winner is None and i == len(items) - 1:
                self.execution.abandoned(send, started, None, message=message)
            else:
                self.execution.cancelled(send, started, message)

    async def next_done(self, timer: asyncio.Future[None]) -> set[asyncio.Future[Any]]:
        waiting = set(self.running) if self.hedged else {*self.running, timer}
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if timer in done and not self.hedged:
            self.hedged = True
        return done

    async def run(self, first: Send, start: Callable[[Send], None], delay: float) -> _Winner | None:
        """Start ``first`` with ``start`` (which launches it), and the next candidate too if nothing has
        answered after ``delay``: the first attempt to succeed, the others cancelled and recorded, or
        ``None`` when every attempt failed (recorded; the caller asks the execution what next)."""
        execution = self.execution
        start(first)
        timer = asyncio.ensure_future(self.clock.asleep(delay))
        try:
            while self.running:
                was_hedged = self.hedged
                done = await self.next_done(timer)
                for task in [t for t in done if t in self.running]:
                    send, started, opening = self.running.pop(task)
                    err = task.exception()
                    if err is None:
                        await self.stop(send, f"hedged: {send.candidate.endpoint.provider} answered first")
                        return send, started, task.result(), opening
                    if opening is not None:
                        await opening.close()
                    if not isinstance(err, ProviderError):
                        raise err
                    execution.failed(send, err, started, concurrent=self.pair)
                    if not self.pair:
                        return None
                if self.hedged and not was_hedged and self.running:
                    second = execution.hedge()
                    while type(second) is Reserve:
                        execution.reserved(second, await second.gate.areserve(second.candidate.endpoint))
                        second = execution.hedge()
                    if isinstance(second, Send):
                        self.pair = True
                        start(second)
            return None
        except asyncio.CancelledError:
            await self.stop(None, "the caller cancelled the call")
            raise
        finally:
            timer.cancel()
            if self.running:
                await self.stop(None, "the call ended")


async def race_complete(
    execution: Execution, first: Send, backend_for: AsyncBackendFor, clock: Clock, delay: float
) -> ChatCompletion | None:
    """Run ``first``, hedged after ``delay``: the winner's response, or ``None`` when every
    attempt failed (recorded; the caller asks the execution what next)."""
    request = execution.request
    race = _Race(execution, clock)

    def start(send: Send) -> None:
        race.launch(send, _complete(backend_for(send.provider.name), send, request))

    won = await race.run(first, start, delay)
    if won is None:
        return None
    send, started, result, _ = won
    resp: ChatCompletion = result
    resp.route = execution.succeeded(send, started, resp.usage, reply=resp)
    return resp


async def race_streams(
    execution: Execution, first: Send, backend_for: AsyncBackendFor, clock: Clock, delay: float
) -> Opening | None:
    """Open ``first``, hedged after ``delay``: the first attempt to reach content (the others
    cancelled and recorded), or ``None`` when every attempt failed."""
    request = execution.request
    race = _Race(execution, clock)

    def start(send: Send) -> None:
        opening = Opening(send, backend_for(send.provider.name), clock, request)
        race.launch(send, opening.run(), opening)

    won = await race.run(first, start, delay)
    return won[3] if won is not None else None
