"""The two engines: sync and async twins that drive an :class:`~polyroute.execution._execution.Execution`.

They differ only in how they send, wait and do budget I/O; every decision is the Execution's.
The async engine awaits the gate's async twins (``areserve`` / ``asettle``), so a slow budget
store or Redis never stalls the other calls on its event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace

from polyroute._clock import Clock
from polyroute._types import ChatCompletion, ChatCompletionChunk, Usage
from polyroute.accounting._delivered import delivered_usage
from polyroute.backends._http import AsyncBackend, Backend
from polyroute.catalog._catalog import Timeouts
from polyroute.errors import (
    FirstTokenTimeout,
    PolyrouteError,
    ProviderError,
    ReadTimeout,
    StreamInterrupted,
)
from polyroute.execution._execution import Execution, Reserve, Send, Settle, Wait
from polyroute.execution._opening import Opening, first_token_limit
from polyroute.execution._relay import Relay

__all__ = ["acomplete", "astream", "complete", "stream"]

BackendFor = Callable[[str], Backend]
AsyncBackendFor = Callable[[str], AsyncBackend]

#: settlements running after their call was cancelled (kept referenced until done)
_BACKGROUND: set[asyncio.Task[None]] = set()


def settle_now(execution: Execution) -> None:
    """Settle what the call still holds (sync)."""
    s = execution.settlements()
    if s is not None:
        s.gate.settle(s.holds)


async def asettle_now(execution: Execution) -> None:
    """Settle what the call still holds, without blocking the event loop."""
    s = execution.settlements()
    if s is not None:
        await s.gate.asettle(s.holds)


def asettle_later(execution: Execution) -> None:
    """Settle what a cancelled call still holds in a task of its own (a cancelled task cannot wait)."""
    s = execution.settlements()
    if s is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # a stream finalised outside its loop
        s.gate.settle(s.holds)
        return
    task = loop.create_task(s.gate.asettle(s.holds))
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


def _admin(execution: Execution, action: object) -> bool:
    """Perform a Reserve or Settle (sync); ``False`` if ``action`` is neither."""
    if type(action) is Reserve:
        execution.reserved(action, action.gate.reserve(action.candidate.endpoint))
        return True
    if type(action) is Settle:
        action.gate.settle(action.holds)
        return True
    return False


async def _aadmin(execution: Execution, action: object) -> bool:
    """Perform a Reserve or Settle without blocking the loop; ``False`` if ``action`` is neither."""
    if type(action) is Reserve:
        execution.reserved(action, await action.gate.areserve(action.candidate.endpoint))
        return True
    if type(action) is Settle:
        await action.gate.asettle(action.holds)
        return True
    return False


def _billed(execution: Execution, relay: Relay) -> Usage | None:
    """The usage of a stream the caller left: the provider's, else (content delivered) an estimate."""
    if relay.usage is not None or not relay.committed:
        return relay.usage
    return delivered_usage(execution.request, relay.delivered_text)


def complete(execution: Execution, backend_for: BackendFor, clock: Clock) -> ChatCompletion:
    """Run a non-streamed call to the end."""
    request = execution.request
    while True:
        action = execution.next()
        if type(action) is Send:
            started = clock.monotonic()
            try:
                resp = backend_for(action.provider.name).complete(action.candidate.endpoint, request, action.timeouts)
            except ProviderError as err:
                execution.failed(action, err, started)
                continue
            except BaseException:
                execution.abandoned(action, started, None, message="the call was interrupted")
                settle_now(execution)
                raise
            resp.route = execution.succeeded(action, started, resp.usage)
            settle_now(execution)
            return resp
        if type(action) is Wait:
            clock.sleep(action.seconds)
            continue
        if _admin(execution, action):
            continue
        assert isinstance(action, PolyrouteError)
        raise action


async def acomplete(execution: Execution, backend_for: AsyncBackendFor, clock: Clock) -> ChatCompletion:
    """Run a non-streamed call to the end (async)."""
    request = execution.request
    while True:
        action = execution.next()
        if type(action) is Send:
            delay = execution.hedge_delay(action)
            if delay is not None:
                from polyroute.execution import _hedge

                try:
                    hedged = await _hedge.race_complete(execution, action, backend_for, clock, delay)
                except BaseException:
                    asettle_later(execution)
                    raise
                if hedged is None:
                    continue
                await asettle_now(execution)
                return hedged
            started = clock.monotonic()
            backend = backend_for(action.provider.name)
            try:
                if action.remaining is None:
                    resp = await backend.acomplete(action.candidate.endpoint, request, action.timeouts)
                else:
                    try:
                        async with asyncio.timeout(max(action.remaining, 0.0)):
                            resp = await backend.acomplete(action.candidate.endpoint, request, action.timeouts)
                    except TimeoutError as exc:
                        raise ReadTimeout("the call's deadline passed during this attempt") from exc
            except ProviderError as err:
                execution.failed(action, err, started)
                continue
            except BaseException:
                execution.abandoned(action, started, None, message="the call was cancelled")
                asettle_later(execution)
                raise
            resp.route = execution.succeeded(action, started, resp.usage)
            await asettle_now(execution)
            return resp
        if type(action) is Wait:
            await clock.asleep(action.seconds)
            continue
        if await _aadmin(execution, action):
            continue
        assert isinstance(action, PolyrouteError)
        raise action


def _first_token_bound(action: Send, timeouts: Timeouts) -> bool:
    """Whether the read timeout in force was the first-token limit (not the read or deadline one)."""
    first = action.timeouts.first_token
    return (
        first is not None
        and first < action.timeouts.read
        and (action.remaining is None or first <= action.remaining)
        and timeouts.read <= first
    )


def stream(
    execution: Execution, backend_for: BackendFor, clock: Clock, *, finished: Callable[[], None] | None = None
) -> Iterator[ChatCompletionChunk]:
    """Run a streamed call: fail over until the first content, relay after it. ``finished`` is
    called when the stream ends, however it ends (if it was started at all)."""
    try:
        request = execution.request
        while True:
            action = execution.next()
            if type(action) is Wait:
                clock.sleep(action.seconds)
                continue
            if _admin(execution, action):
                continue
            if not isinstance(action, Send):
                assert isinstance(action, PolyrouteError)
                raise action
            started = clock.monotonic()
            limit = first_token_limit(action)
            timeouts = action.timeouts
            if limit is not None and limit < timeouts.read:
                # httpx applies one read timeout to the whole body: before the first token it is
                # the first-token limit; the elapsed-time check below keeps a trickle honest too
                timeouts = replace(timeouts, read=max(limit, 0.001))
            relay = Relay(request.include_usage)
            ttft: float | None = None
            source = backend_for(action.provider.name).stream(action.candidate.endpoint, request, timeouts)
            try:
                for chunk in source:
                    out = relay.push(chunk)
                    if ttft is None:
                        now = clock.monotonic()
                        if not relay.committed:
                            if limit is not None and now - started > limit:
                                raise FirstTokenTimeout(f"no content within {limit:.3f}s")
                            continue
                        ttft = now - started
                    yield from out
            except ProviderError as err:
                if relay.committed:
                    execution.failed(action, err, started, ttft=ttft, usage=relay.usage, final=True)
                    settle_now(execution)
                    raise execution.interrupted(
                        StreamInterrupted(
                            err, delivered_text=relay.delivered_text, delivered_chunks=relay.delivered_chunks
                        )
                    ) from err
                if isinstance(err, ReadTimeout) and _first_token_bound(action, timeouts):
                    err = FirstTokenTimeout(f"no content within {action.timeouts.first_token:.3f}s: {err.message}")
                execution.failed(action, err, started, ttft=ttft)
                continue
            except GeneratorExit:
                execution.abandoned(action, started, _billed(execution, relay), ttft=ttft)
                settle_now(execution)
                raise
            finally:
                source.close()  # type: ignore[attr-defined]
            route = execution.succeeded(action, started, relay.usage, ttft=ttft)
            settle_now(execution)
            yield from relay.finish(route, execution.request_id, int(clock.time()))
            return
    finally:
        if finished is not None:
            finished()


async def _open(execution: Execution, action: Send, backend_for: AsyncBackendFor, clock: Clock) -> Opening | None:
    """Open one streamed attempt up to its first content (hedged if the call is); ``None`` if it failed."""
    delay = execution.hedge_delay(action)
    if delay is not None:
        from polyroute.execution import _hedge

        try:
            return await _hedge.race_streams(execution, action, backend_for, clock, delay)
        except BaseException:
            asettle_later(execution)
            raise
    opening = Opening(action, backend_for(action.provider.name), clock, execution.request)
    try:
        await opening.run()
    except ProviderError as err:
        await opening.close()
        execution.failed(action, err, opening.started)
        return None
    except BaseException:
        await opening.close()
        execution.abandoned(action, opening.started, opening.relay.usage, message="the call was cancelled")
        asettle_later(execution)
        raise
    return opening


async def astream(
    execution: Execution, backend_for: AsyncBackendFor, clock: Clock, *, finished: Callable[[], None] | None = None
) -> AsyncIterator[ChatCompletionChunk]:
    """Run a streamed call (async): fail over until the first content, relay after it.
    ``finished`` is called when the stream ends, however it ends (if it was started at all)."""
    try:
        loop = asyncio.get_running_loop()
        while True:
            action = execution.next()
            if type(action) is Wait:
                await clock.asleep(action.seconds)
                continue
            if await _aadmin(execution, action):
                continue
            if not isinstance(action, Send):
                assert isinstance(action, PolyrouteError)
                raise action
            opening = await _open(execution, action, backend_for, clock)
            if opening is None:
                continue
            action, started, relay, it, ttft = (
                opening.send,
                opening.started,
                opening.relay,
                opening.iterator,
                opening.ttft,
            )
            try:
                if relay.committed:
                    for c in opening.pending:
                        yield c
                    deadline = (
                        None
                        if action.remaining is None
                        else loop.time() + action.remaining - (clock.monotonic() - started)
                    )
                    if deadline is None:  # nothing to time per chunk
                        async for chunk in it:
                            for c in relay.push(chunk):
                                yield c
                    else:
                        while True:
                            try:
                                async with asyncio.timeout_at(deadline):
                                    chunk = await anext(it)
                            except StopAsyncIteration:
                                break
                            except TimeoutError as exc:
                                raise ReadTimeout("the call's deadline passed mid-stream") from exc
                            for c in relay.push(chunk):
                                yield c
            except ProviderError as err:
                execution.failed(action, err, started, ttft=ttft, usage=relay.usage, final=True)
                await asettle_now(execution)
                raise execution.interrupted(
                    StreamInterrupted(err, delivered_text=relay.delivered_text, delivered_chunks=relay.delivered_chunks)
                ) from err
            except (GeneratorExit, asyncio.CancelledError):
                execution.abandoned(action, started, _billed(execution, relay), ttft=ttft)
                asettle_later(execution)
                raise
            finally:
                await opening.close()
            route = execution.succeeded(action, started, relay.usage, ttft=ttft)
            await asettle_now(execution)
            for c in relay.finish(route, execution.request_id, int(clock.time())):
                yield c
            return
    finally:
        if finished is not None:
            finished()
