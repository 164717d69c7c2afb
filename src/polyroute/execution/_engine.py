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
from polyroute.errors import (
    PolyrouteError,
    ProviderError,
    ReadTimeout,
    StreamInterrupted,
)
from polyroute.execution._execution import Execution, Reserve, Send, Settle, Wait
from polyroute.execution._opening import Opening, late
from polyroute.execution._relay import Relay, Resume
from polyroute.execution._watchdog import Watchdog

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
            resp.route = execution.succeeded(action, started, resp.usage, reply=resp)
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
            resp.route = execution.succeeded(action, started, resp.usage, reply=resp)
            await asettle_now(execution)
            return resp
        if type(action) is Wait:
            await clock.asleep(action.seconds)
            continue
        if await _aadmin(execution, action):
            continue
        assert isinstance(action, PolyrouteError)
        raise action


def _broke(
    execution: Execution,
    action: Send,
    err: ProviderError,
    *,
    started: float,
    ttft: float | None,
    relay: Relay,
    resume: Resume | None,
) -> Resume:
    """A stream broke after content: record the attempt; what to continue (text so far)."""
    execution.broke(action, err, started, ttft=ttft, usage=relay.usage, text=relay.delivered_text)
    if resume is None:
        resume = Resume(err, relay.chunk_id or execution.request_id, relay.delivered_text, relay.delivered_chunks)
        resume.model = action.candidate.model
    else:
        resume.text += relay.delivered_text
        resume.delivered_chunks += relay.delivered_chunks
    if relay.tool_calls:  # only text is continued
        resume.continuable = False
    return resume


def _interrupted(execution: Execution, resume: Resume) -> StreamInterrupted:
    """Nothing can continue the broken stream: the original cause, with what was delivered."""
    error = StreamInterrupted(resume.cause, delivered_text=resume.text, delivered_chunks=resume.delivered_chunks)
    execution.interrupted(error)
    return error


def stream(
    execution: Execution, backend_for: BackendFor, clock: Clock, *, finished: Callable[[], None] | None = None
) -> Iterator[ChatCompletionChunk]:
    """Run a streamed call: fail over until the first content, relay after it; if it breaks
    after content, continue it on an endpoint that can. ``finished`` is called when the stream
    ends, however it ends (if it was started at all)."""
    try:
        resume: Resume | None = None
        while True:
            if resume is None:
                action = execution.next()
            else:
                cont = execution.resume(resume)
                if cont is None:
                    settle_now(execution)
                    raise _interrupted(execution, resume) from resume.cause
                action = cont
            if type(action) is Wait:
                clock.sleep(action.seconds)
                continue
            if _admin(execution, action):
                continue
            if not isinstance(action, Send):
                assert isinstance(action, PolyrouteError)
                raise action
            request = action.request or execution.request
            started = clock.monotonic()
            limit = action.first_token
            idle = action.idle
            timeouts = action.timeouts
            # httpx applies one read timeout to every read of a body: the tightest of the limits
            # (the elapsed-time check below keeps a trickle before the first content honest too)
            read = min(t for t in (timeouts.read, limit.seconds if limit else None, idle) if t is not None)
            if read < timeouts.read:
                timeouts = replace(timeouts, read=max(read, 0.001))
            relay = Relay(request.include_usage, resume)
            ttft: float | None = None
            source = backend_for(action.provider.name).stream(action.candidate.endpoint, request, timeouts)
            try:
                for chunk in source:
                    now = clock.monotonic()
                    if ttft is None:
                        if limit is not None and now - started > limit.seconds:
                            raise late(limit)
                        out = relay.push(chunk)
                        if not relay.committed:
                            continue
                        ttft = now - started
                    else:
                        out = relay.push(chunk)
                    yield from out
            except ProviderError as err:
                if relay.committed:
                    resume = _broke(execution, action, err, started=started, ttft=ttft, relay=relay, resume=resume)
                    continue
                if isinstance(err, ReadTimeout) and limit is not None and read == limit.seconds:
                    err = late(limit, f": {err.message}")
                if resume is not None:  # a continuation failed before its first content: try the next
                    execution.failed(action, err, started, final=True)
                    resume.errors.append(err)
                    continue
                execution.failed(action, err, started, ttft=ttft)
                continue
            except GeneratorExit:
                execution.abandoned(action, started, _billed(execution, relay), ttft=ttft)
                settle_now(execution)
                raise
            finally:
                source.close()  # type: ignore[attr-defined]
            route = execution.succeeded(action, started, relay.usage, ttft=ttft, reply=relay)
            settle_now(execution)
            yield from relay.finish(route, execution.request_id, int(clock.time()))
            return
    finally:
        if finished is not None:
            finished()


async def _open(
    execution: Execution, action: Send, backend_for: AsyncBackendFor, clock: Clock, resume: Resume | None
) -> Opening | None:
    """Open one streamed attempt up to its first content (hedged if the call is); ``None`` if it failed."""
    delay = execution.hedge_delay(action) if resume is None else None
    if delay is not None:
        from polyroute.execution import _hedge

        try:
            return await _hedge.race_streams(execution, action, backend_for, clock, delay)
        except BaseException:
            asettle_later(execution)
            raise
    opening = Opening(action, backend_for(action.provider.name), clock, execution.request, resume)
    try:
        await opening.run()
    except ProviderError as err:
        await opening.close()
        if resume is not None:  # a continuation failed before its first content: try the next
            execution.failed(action, err, opening.started, final=True)
            resume.errors.append(err)
        else:
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
    """Run a streamed call (async): fail over until the first content, relay after it; if it
    breaks after content, continue it on an endpoint that can. ``finished`` is called when the
    stream ends, however it ends (if it was started at all)."""
    try:
        loop = asyncio.get_running_loop()
        resume: Resume | None = None
        while True:
            if resume is None:
                action = execution.next()
            else:
                cont = execution.resume(resume)
                if cont is None:
                    await asettle_now(execution)
                    raise _interrupted(execution, resume) from resume.cause
                action = cont
            if type(action) is Wait:
                await clock.asleep(action.seconds)
                continue
            if await _aadmin(execution, action):
                continue
            if not isinstance(action, Send):
                assert isinstance(action, PolyrouteError)
                raise action
            opening = await _open(execution, action, backend_for, clock, resume)
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
                    # the rest, under the idle limit and the call's deadline (inlined: per chunk)
                    idle = action.idle
                    deadline = action.remaining
                    if deadline is not None:
                        deadline += loop.time() - (clock.monotonic() - started)
                    if deadline is None and idle is None:
                        async for chunk in it:
                            for c in relay.push(chunk):
                                yield c
                    else:
                        watchdog = Watchdog(loop, idle, deadline)
                        try:
                            while True:
                                watchdog.waiting()
                                try:
                                    chunk = await anext(it)
                                except StopAsyncIteration:
                                    break
                                except asyncio.CancelledError:
                                    if watchdog.expired():
                                        raise watchdog.error() from None
                                    raise
                                finally:
                                    watchdog.since = None  # the caller's time between chunks is not the provider's
                                    if watchdog.fired:  # it fired as the wait ended
                                        await watchdog.absorb()
                                for c in relay.push(chunk):
                                    yield c
                        finally:
                            watchdog.close()
            except ProviderError as err:
                resume = _broke(execution, action, err, started=started, ttft=ttft, relay=relay, resume=resume)
                continue
            except (GeneratorExit, asyncio.CancelledError):
                execution.abandoned(action, started, _billed(execution, relay), ttft=ttft)
                asettle_later(execution)
                raise
            finally:
                await opening.close()
            route = execution.succeeded(action, started, relay.usage, ttft=ttft, reply=relay)
            await asettle_now(execution)
            for c in relay.finish(route, execution.request_id, int(clock.time())):
                yield c
            return
    finally:
        if finished is not None:
            finished()
