"""The Redis state backend: many processes, one router.

Routing never waits for Redis on its hot path. Each process keeps the breakers, statistics,
sticky sessions and rate-limit views in memory, as :class:`~polyroute.state.LocalState` does,
and a background thread keeps that memory in step with the other processes:

- **breakers**: an opening, hold or closing is written to a hash and published on a channel the
  moment it happens (the thread is woken); every process applies what it receives at once (a
  subscriber thread) and reads the whole hash when it (re)joins. A half-open endpoint's probe
  needs a lease (``SET NX PX``) that the background thread claims: exactly one process probes.
- **statistics** (success, time to first token, latency, throughput windows, in-flight counts,
  from which hedging delays are read): every ``sync_interval`` each process publishes its
  windows' totals and merges the others' into what routing and ``router.stats()`` read.
- **sticky sessions**: written in the background under a digest every process computes alike;
  a conversation this process has not seen is fetched before planning (one ``GET``, only for a
  sticky-eligible request that misses locally).
- **rate limits**: a request slot at a limited endpoint is one atomic script over every
  process's counts: a sliding window of requests per key, and tokens per second over the last
  minute (each attempt's usage is added by the background thread as soon as it ends; learned
  limits are shared).
- **budgets**: one atomic script per reservation and settlement
  (:class:`~polyroute.state.RedisBudgetStore`).

Every Redis operation has a tight timeout (``timeout``). When one fails the backend is marked
down for ``retry_interval``: routing uses local state alone (fail open: counted in
``router.stats().state.fallbacks``, one warning per outage), budgets refuse (fail closed) unless
``budgets_on_error: open``, and nothing waits on Redis meanwhile. The background thread pings;
when Redis answers, the process rejoins: re-subscribes, reads the breakers and republishes its
own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import orjson

from polyroute._clock import Clock
from polyroute._request import ChatRequest
from polyroute._secret import remember_url
from polyroute.catalog._catalog import Catalog, Endpoint
from polyroute.errors import ConfigError
from polyroute.health._breakers import CircuitBreaker, HealthState
from polyroute.health._stats import EndpointStats, Remote, Stats
from polyroute.routing._sticky import StickySessions, conversation_digest, conversation_key
from polyroute.state._backend import StateStatus
from polyroute.state._limits import WINDOW, RateLimits

if TYPE_CHECKING:
    from polyroute.budgets import BudgetStore

__all__ = ["RedisRateLimits", "RedisState"]

log = logging.getLogger("polyroute")

#: statistics older than this are not merged (a process that stopped publishing has left)
_NODE_TTL = 60.0

_TAKE = """
local now, member, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local m = tonumber(ARGV[5 + n])
for i = 1, n do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[4 + i]) then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    return tostring(tonumber(oldest[2]) + window - now)
  end
end
local second, span = math.floor(now / 1000), math.floor(window / 1000)
for j = 1, m do
  local key = KEYS[n + j]
  local flat = redis.call('HGETALL', key)
  local total, oldest = 0, nil
  for k = 1, #flat, 2 do
    local at = tonumber(flat[k])
    if at <= second - span then
      redis.call('HDEL', key, flat[k])
    else
      total = total + tonumber(flat[k + 1])
      if oldest == nil or at < oldest then oldest = at end
    end
  end
  if total >= tonumber(ARGV[5 + n + j]) then
    return tostring(math.max((oldest + span + 1) * 1000 - now, 1))
  end
end
for i = 1, n do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], window)
end
return 0
"""
"""A request slot: KEYS are the request windows (sorted sets), then the token windows (a hash of
tokens per second); ARGV: now (ms), a unique member, the number of request windows, the window
(ms), their limits, the number of token windows, their limits. Returns 0 (slot taken) or the
milliseconds until one frees."""


class _Down(Exception):
    """Redis is marked down: the operation was not tried."""


def _load_redis() -> Any:
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - the extra is installed in development
        raise ConfigError(
            "router.state backend redis needs the redis package: pip install 'polyroute[redis]'",
            path="router.state.backend",
        ) from exc
    return redis


class RedisRateLimits(RateLimits):
    """Request windows in Redis (exact across processes); this process's view kept for planning."""

    def __init__(self, state: RedisState) -> None:
        super().__init__(state.clock.monotonic)
        self._state = state

    def _script_args(self, endpoint_key: str) -> tuple[list[str], list[Any]] | None:
        checks = self.checks(endpoint_key)
        if not checks:
            return None
        rpm = [(key, limit.rpm) for key, limit in checks if limit.rpm is not None]
        tpm = [(key, limit.tpm) for key, limit in checks if limit.tpm is not None]
        state = self._state
        keys = [f"{state.prefix}:rpm:{key}" for key, _ in rpm] + [f"{state.prefix}:tpm:{key}" for key, _ in tpm]
        member = secrets.token_hex(6)
        now_ms = int(state.clock.time() * 1000)
        return keys, [
            now_ms,
            member,
            len(rpm),
            int(WINDOW * 1000),
            *(n for _, n in rpm),
            len(tpm),
            *(n for _, n in tpm),
        ]

    def used_tokens(self, endpoint_key: str, tokens: int, now: float) -> None:
        """Count the tokens here (the fall-back view) and, in the background, in Redis's
        per-second token windows that every process's slot script reads."""
        super().used_tokens(endpoint_key, tokens, now)
        if tokens <= 0:
            return
        keys = [f"{self._state.prefix}:tpm:{key}" for key, limit in self.checks(endpoint_key) if limit.tpm is not None]
        if keys:
            self._state.count_tokens(keys, tokens)

    def _tokens_wait(self, endpoint_key: str, now: float) -> float | None:
        with self._lock:
            wait = self._blocked(endpoint_key, now)
        return wait if wait > 0 else None

    def _after(self, endpoint_key: str, found: Any, now: float) -> float | None:
        wait = float(found) / 1000  # the script answers in milliseconds
        if wait > 0:
            with self._lock:  # planning moves the endpoint behind the others meanwhile
                self._holds[endpoint_key] = max(self._holds.get(endpoint_key, 0.0), now + wait)
                self.active = True
            return wait
        return None

    def take(self, endpoint_key: str, now: float) -> float | None:
        """A request slot from the shared window (the local one while Redis is down)."""
        wait = self._tokens_wait(endpoint_key, now)
        if wait is not None:
            return wait
        found = self._script_args(endpoint_key)
        if found is None:
            return None
        try:
            result = self._state.run_script(_TAKE, *found)
        except Exception:
            self._state.fell_back()
            return super().take(endpoint_key, now)
        return self._after(endpoint_key, result, now)

    async def atake(self, endpoint_key: str, now: float) -> float | None:
        """:meth:`take` over ``redis.asyncio``."""
        wait = self._tokens_wait(endpoint_key, now)
        if wait is not None:
            return wait
        found = self._script_args(endpoint_key)
        if found is None:
            return None
        try:
            result = await self._state.arun_script(_TAKE, *found)
        except Exception:
            self._state.fell_back()
            return super().take(endpoint_key, now)
        return self._after(endpoint_key, result, now)


class RedisState:
    """State shared through Redis (see the module docstring). Built by the router from
    ``router: {state: {backend: redis, url: ${REDIS_URL}}}``."""

    def __init__(self, catalog: Catalog, clock: Clock) -> None:
        settings = catalog.settings.state
        if settings.url is None:
            raise ConfigError("backend redis needs a url", path="router.state.url")
        self._redis = _load_redis()
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.settings = settings
        self.clock = clock
        self.prefix = settings.prefix
        self.node = secrets.token_hex(6)
        self._url = settings.url.reveal()
        remember_url(self._url)  # its password never shows in an error, a log line or a repr
        timeout = settings.timeout
        self._client = self._redis.Redis.from_url(
            self._url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(self._redis.exceptions.ConnectionError,)),
            decode_responses=True,
            health_check_interval=0,
        )
        self._aclients: dict[int, tuple[asyncio.AbstractEventLoop, Any]] = {}
        self._scripts: dict[str, Any] = {}
        self.health = HealthState(catalog.settings.breaker)
        self.stats = Stats(clock)
        self.sticky = StickySessions(window=catalog.settings.routing.sticky_window, now=clock.monotonic)
        self.limits: RateLimits = RedisRateLimits(self)
        self._lock = threading.Lock()
        #: writes for the background thread (bounded: while Redis is down the oldest go first;
        #: breakers are republished on rejoin anyway)
        self._writes: deque[tuple[Any, ...]] = deque(maxlen=10_000)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._down_until = 0.0  # monotonic: Redis is not tried before then
        self._connected = True
        self._errors = 0
        self._timeouts = 0  # in a row
        self._fallbacks = 0
        self._budget_refusals = 0
        self._last_error: str | None = None
        self._processes: int | None = None
        self._last_sync = -1e18
        self._caching: dict[str, bool] = {}
        self.configure(catalog)
        self.health.share(self._breaker_changed, shared_probe=True)
        self.sticky.listener = self._sticky_remembered
        self._pubsub: Any = None
        self._subscribed = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name="polyroute-redis-sync", daemon=True),
            threading.Thread(target=self._listen, name="polyroute-redis-events", daemon=True),
        ]
        for t in self._threads:
            t.start()
        self._subscribed.wait(timeout=max(1.0, 10 * timeout))

    # -- StateBackend ------------------------------------------------------------------------------

    def configure(self, catalog: Catalog) -> None:
        """Take a catalog's settings (at start and on every reload)."""
        from polyroute._generation import cached_endpoints

        settings = catalog.settings
        self.health.settings = settings.breaker
        for b in self.health.breakers():
            b.settings = settings.breaker
        cached = cached_endpoints(catalog)
        self.sticky.configure(window=settings.routing.sticky_window, cached=cached)
        self._caching = {name: any(ep.key in cached for ep in spec.endpoints) for name, spec in catalog.models.items()}
        self.limits.configure(
            (ep for spec in catalog.models.values() for ep in spec.endpoints),
            {p.name: p.rate_limit for p in catalog.providers.values()},
        )

    def budget_store(self, default: Callable[[], BudgetStore]) -> BudgetStore:
        """Budget counters in Redis (with a memory fallback only under ``budgets_on_error: open``)."""
        from polyroute.budgets import MemoryBudgetStore
        from polyroute.state._redis_budget import RedisBudgetStore

        fallback = MemoryBudgetStore if self.settings.budgets_on_error == "open" else None
        return RedisBudgetStore(self, fallback)

    def _sticky_wanted(self, request: ChatRequest) -> list[str]:
        """Models whose sticky entry for ``request`` this process lacks and Redis may hold."""
        sticky = self.sticky
        if not sticky.enabled:
            return []
        key = None
        now = self.clock.monotonic()
        out = []
        for model in request.models:
            if not (request.session_id or self._caching.get(model)):
                continue
            if key is None:
                key = conversation_key(request)
                if key is None:
                    return []
            if sticky.lookup(model, key, now) is None:
                out.append(model)
        return out

    def _sticky_found(self, request: ChatRequest, models: list[str], values: list[Any]) -> None:
        key = conversation_key(request)
        if key is None:
            return
        now = self.clock.monotonic()
        wall = self.clock.time()
        for model, value in zip(models, values, strict=True):
            if not value:
                continue
            endpoint_key, _, when = str(value).rpartition("|")
            try:
                age = max(wall - float(when), 0.0)
            except ValueError:
                continue
            self.sticky.remember(model, key, endpoint_key, now - age)

    def _sticky_keys(self, request: ChatRequest, models: list[str]) -> list[str] | None:
        digest = conversation_digest(request)
        if digest is None:
            return None
        return [f"{self.prefix}:sticky:{m}:{digest}" for m in models]

    def _sticky_lookup(self, request: ChatRequest) -> tuple[list[str], list[str]] | None:
        """The models and Redis keys to look the conversation up under, or None when there is
        nothing to fetch (counted as a fall-back while Redis is unreachable)."""
        if not self._connected:
            self.fell_back()
            return None
        models = self._sticky_wanted(request)
        if not models:
            return None
        keys = self._sticky_keys(request, models)
        return None if keys is None else (models, keys)

    def prepare(self, request: ChatRequest) -> None:
        """Fetch the conversation's sticky endpoint when this process has not seen it. While Redis
        is unreachable, count the call as routed on local state alone."""
        wanted = self._sticky_lookup(request)
        if wanted is None:
            return
        models, keys = wanted
        try:
            self._check()
            values = self._client.mget(keys)
        except Exception as exc:
            self._failed(exc)
            self.fell_back()
            return
        self._sticky_found(request, models, values)

    async def aprepare(self, request: ChatRequest) -> None:
        """:meth:`prepare` over ``redis.asyncio``."""
        wanted = self._sticky_lookup(request)
        if wanted is None:
            return
        models, keys = wanted
        try:
            self._check()
            values = await self._aclient().mget(keys)
        except Exception as exc:
            self._failed(exc)
            self.fell_back()
            return
        self._sticky_found(request, models, values)

    def report(self, endpoints: Iterable[Endpoint], now: float) -> dict[str, EndpointStats]:
        """The cluster's statistics (this process's merged with the others', as last synced; a
        process that has not synced yet, such as ``polyroute stats``, reads them now)."""
        if self._last_sync < 0 and self._connected:
            try:
                self._sync_stats(now)
            except Exception as exc:
                self._failed(exc)
        return self.stats.report(endpoints, self.health, now)

    def status(self) -> StateStatus:
        """How the connection to Redis is doing."""
        with self._lock:
            return StateStatus(
                backend="redis",
                connected=self._connected,
                errors=self._errors,
                fallbacks=self._fallbacks,
                budget_refusals=self._budget_refusals,
                processes=self._processes,
                last_error=self._last_error,
            )

    def close(self) -> None:
        """Flush pending writes, stop the background threads, close the connections."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=2.0)
        with self._lock:
            clients, self._aclients = list(self._aclients.values()), {}
        for _, client in clients:
            pool = client.connection_pool
            for conn in list(getattr(pool, "_available_connections", [])) + list(
                getattr(pool, "_in_use_connections", [])
            ):
                writer = getattr(conn, "_writer", None)
                if writer is not None:
                    # no event loop needed; if its loop is closed, the socket goes with the object
                    with contextlib.suppress(RuntimeError):
                        writer.transport.abort()
        self._client.close()

    async def aclose(self) -> None:
        """:meth:`close`, closing this event loop's async connections properly."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._aclients.pop(id(loop), None)
        if entry is not None and entry[0] is loop:
            await entry[1].aclose()
        await asyncio.to_thread(self.close)

    def __repr__(self) -> str:
        return f"RedisState(prefix={self.prefix!r}, node={self.node!r})"

    # -- operations used by the budget store and the limiter --------------------------------------

    def _check(self) -> None:
        if self._down_until and self.clock.monotonic() < self._down_until:
            raise _Down("redis is marked down")

    def _failed(self, exc: BaseException) -> None:
        """Count a failed operation. A refused or broken connection marks Redis down at once;
        timeouts do after three in a row (one slow answer fails only its own operation)."""
        if isinstance(exc, _Down):
            return
        first = False
        with self._lock:
            self._errors += 1
            self._last_error = type(exc).__name__
            self._timeouts = self._timeouts + 1 if isinstance(exc, self._redis.exceptions.TimeoutError) else 0
            if 0 < self._timeouts < 3:
                return
            if self._connected:
                first = True
            self._connected = False
            self._down_until = self.clock.monotonic() + self.settings.retry_interval
        if first:
            log.warning(
                "polyroute: Redis state unreachable (%s); routing on this process's own state, budgets %s",
                type(exc).__name__,
                "counted in memory" if self.settings.budgets_on_error == "open" else "refused",
            )
            self.health.share(self._breaker_changed, shared_probe=False)
        self._wake.set()

    def fell_back(self) -> None:
        """Count a decision made from local state because Redis could not be reached."""
        with self._lock:
            self._fallbacks += 1

    def budget_refused(self) -> None:
        """Count a reservation refused because Redis could not be reached."""
        with self._lock:
            self._budget_refusals += 1

    def _aclient(self) -> Any:
        loop = asyncio.get_running_loop()
        entry = self._aclients.get(id(loop))
        if entry is None or entry[0] is not loop:
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            timeout = self.settings.timeout
            client = self._redis.asyncio.Redis.from_url(
                self._url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                # once more on a broken connection (a pooled one Redis dropped); never on a timeout
                retry=Retry(NoBackoff(), 1, supported_errors=(self._redis.exceptions.ConnectionError,)),
                decode_responses=True,
                health_check_interval=0,
            )
            entry = (loop, client)
            with self._lock:
                self._aclients[id(loop)] = entry
        return entry[1]

    def run_script(self, source: str, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script (sync), or raise when Redis is down or the call fails."""
        self._check()
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._client.register_script(source)
        try:
            found = script(keys=keys, args=args, client=self._client)
        except Exception as exc:
            self._failed(exc)
            raise
        self._timeouts = 0
        return found

    async def arun_script(self, source: str, keys: list[str], args: list[Any]) -> Any:
        """:meth:`run_script` over ``redis.asyncio``."""
        self._check()
        client = self._aclient()
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._client.register_script(source)
        try:
            try:
                found = await client.evalsha(script.sha, len(keys), *keys, *args)
            except self._redis.exceptions.NoScriptError:
                found = await client.eval(source, len(keys), *keys, *args)
        except Exception as exc:
            self._failed(exc)
            raise
        self._timeouts = 0
        return found

    def read_counter(self, spent_key: str, holds_key: str) -> tuple[str | None, dict[str, str]]:
        """A budget counter's raw spent value and holds."""
        self._check()
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.get(spent_key)
            pipe.hgetall(holds_key)
            spent, holds = pipe.execute()
        except Exception as exc:
            self._failed(exc)
            raise
        return spent, holds

    # -- listeners (request path: enqueue only) ------------------------------------------------

    def _to_wall(self, t: float) -> float:
        return t - self.clock.monotonic() + self.clock.time()

    def _breaker_changed(self, key: str, breaker: CircuitBreaker) -> None:
        open_until, opens, reason = breaker.exported()
        self._writes.append(("breaker", key, self._to_wall(open_until), opens, reason))
        self._wake.set()

    def count_tokens(self, keys: list[str], tokens: int) -> None:
        """Add ``tokens`` to the token windows ``keys`` (written by the background thread)."""
        self._writes.append(("tokens", keys, int(self.clock.time()), tokens))
        self._wake.set()

    def _sticky_remembered(self, model: str, request: ChatRequest, endpoint_key: str) -> None:
        digest = conversation_digest(request)
        if digest is not None:
            self._writes.append(("sticky", f"{self.prefix}:sticky:{model}:{digest}", endpoint_key))

    # -- background ------------------------------------------------------------------------------

    def _work(self) -> None:
        """The sync thread: flush writes, claim probe leases, exchange statistics, rejoin."""
        tick = min(0.1, self.settings.sync_interval)
        while True:
            self._wake.wait(timeout=tick)
            self._wake.clear()
            stopping = self._stop.is_set()
            try:
                now = self.clock.monotonic()
                if not self._connected:
                    if now < self._down_until and not stopping:
                        continue
                    self._client.ping()
                    self._rejoin()
                self._flush()
                if stopping:
                    return
                self._claim_probes(now)
                if now - self._last_sync >= self.settings.sync_interval:
                    self._last_sync = now
                    self._sync_stats(now)
            except Exception as exc:
                self._failed(exc)
                if stopping:
                    return

    def _rejoin(self) -> None:
        with self._lock:
            self._connected = True
            self._down_until = 0.0
        log.warning("polyroute: Redis state reachable again; rejoined")
        self.health.share(self._breaker_changed, shared_probe=True)
        self._load_breakers()
        for b in self.health.breakers():  # what this process learnt meanwhile
            open_until, opens, _ = b.exported()
            if opens or open_until > self.clock.monotonic():
                self._breaker_changed(b.key, b)

    def _flush(self) -> None:
        writes = self._writes
        if not writes:
            return
        pipe = self._client.pipeline(transaction=False)
        breakers = f"{self.prefix}:breakers"
        channel = f"{self.prefix}:events"
        sticky_ms = int(self.sticky.window * 1000)
        n = 0
        while writes and n < 1000:
            item = writes.popleft()
            n += 1
            if item[0] == "breaker":
                _, key, open_until, opens, reason = item
                value = orjson.dumps([self.node, open_until, opens, reason])
                pipe.hset(breakers, key, value)
                pipe.publish(channel, orjson.dumps([key, open_until, opens, reason, self.node]))
                if not opens:
                    pipe.delete(f"{self.prefix}:probe:{key}")
            elif item[0] == "tokens":
                _, keys, second, tokens = item
                for key in keys:
                    pipe.hincrby(key, str(second), tokens)
                    pipe.pexpire(key, int(WINDOW * 2000))
            elif item[0] == "sticky" and sticky_ms > 0:
                _, key, endpoint_key = item
                pipe.set(key, f"{endpoint_key}|{self.clock.time()!r}", px=sticky_ms)
        pipe.pexpire(breakers, int(max(self.health.settings.max_cooldown, 3600) * 1000))
        pipe.execute()
        if writes:
            self._wake.set()

    def _claim_probes(self, now: float) -> None:
        wanting = [b for b in self.health.breakers() if b.wants_probe(now)]
        if not wanting:
            return
        lease = max(self.health.settings.cooldown, 1.0)
        pipe = self._client.pipeline(transaction=False)
        for b in wanting:
            pipe.set(f"{self.prefix}:probe:{b.key}", self.node, nx=True, px=int(lease * 1000))
        for b, won in zip(wanting, pipe.execute(), strict=True):
            if won:
                b.grant_probe(now + lease * 0.9)

    def _load_breakers(self) -> None:
        found = self._client.hgetall(f"{self.prefix}:breakers")
        for key, value in found.items():
            try:
                _, open_until, opens, reason = orjson.loads(value)
            except (ValueError, TypeError):
                continue
            self._apply_breaker(key, open_until, opens, reason)

    def _apply_breaker(self, key: str, open_until: float, opens: int, reason: str | None) -> None:
        now = self.clock.monotonic()
        local = open_until - self.clock.time() + now
        b = self.health.breaker(key)
        listener, b.listener = b.listener, None  # no echo
        try:
            b.apply_remote(local, int(opens), reason, now)
        finally:
            b.listener = listener

    def _sync_stats(self, now: float) -> None:
        wall = self.clock.time()
        nodes = f"{self.prefix}:nodes"
        mine = orjson.dumps(self.stats.export(now), option=orjson.OPT_NON_STR_KEYS)
        pipe = self._client.pipeline(transaction=False)
        pipe.set(f"{self.prefix}:stats:{self.node}", mine, px=int(_NODE_TTL * 1000))
        pipe.zadd(nodes, {self.node: wall})
        pipe.zremrangebyscore(nodes, "-inf", wall - _NODE_TTL)
        pipe.pexpire(nodes, int(_NODE_TTL * 2000))
        pipe.zrange(nodes, 0, -1)
        found = pipe.execute()[-1]
        with self._lock:
            self._processes = len(found)
        others = [n for n in found if n != self.node]
        blobs = self._client.mget([f"{self.prefix}:stats:{n}" for n in others]) if others else []
        self.stats.set_remote(_merge([orjson.loads(b) for b in blobs if b], len(self.stats.windows), now))

    def _listen(self) -> None:
        """The subscriber thread: apply other processes' breaker changes as they are published."""
        channel = f"{self.prefix}:events"
        client = self._redis.Redis.from_url(
            self._url, socket_timeout=None, socket_connect_timeout=self.settings.timeout, decode_responses=True
        )
        pubsub = None
        try:
            while not self._stop.is_set():
                if pubsub is None:
                    if not self._connected and self.clock.monotonic() < self._down_until:
                        self._stop.wait(0.1)
                        continue
                    try:
                        pubsub = client.pubsub(ignore_subscribe_messages=True)
                        pubsub.subscribe(channel)
                        self._load_breakers()
                    except Exception as exc:
                        self._failed(exc)
                        pubsub = None
                        continue
                    finally:
                        self._subscribed.set()
                try:
                    message = pubsub.get_message(timeout=0.2)
                except Exception as exc:
                    self._failed(exc)
                    pubsub.close()
                    pubsub = None
                    continue
                if message is None or message.get("type") != "message":
                    continue
                try:
                    key, open_until, opens, reason, node = orjson.loads(message["data"])
                except (ValueError, TypeError):
                    continue
                if node != self.node:
                    self._apply_breaker(key, open_until, opens, reason)
        finally:
            if pubsub is not None:
                pubsub.close()
            client.close()


def _merge(snapshots: list[dict[str, Any]], n_windows: int, now: float) -> dict[str, Remote]:
    """Other processes' exported statistics, summed per endpoint."""
    out: dict[str, Remote] = {}
    for snap in snapshots:
        for key, e in snap.items():
            wins = e.get("windows") or []
            if len(wins) != n_windows:
                continue
            rem = out.get(key)
            if rem is None:
                rem = out[key] = Remote(
                    [(0, 0, 0, 0, {}, {}, {}, [float("inf")] * 3, [float("-inf")] * 3) for _ in range(n_windows)]
                )
            ok_before = rem.windows[0][0]
            for i, w in enumerate(wins):
                ok, failed, neutral, cancelled, ttft, latency, tps, lo, hi = w
                cur = rem.windows[i]
                merged_hists = []
                for have, add in ((cur[4], ttft), (cur[5], latency), (cur[6], tps)):
                    for b, c in add.items():
                        have[int(b)] = have.get(int(b), 0) + c
                    merged_hists.append(have)
                rem.windows[i] = (
                    cur[0] + ok,
                    cur[1] + failed,
                    cur[2] + neutral,
                    cur[3] + cancelled,
                    merged_hists[0],
                    merged_hists[1],
                    merged_hists[2],
                    [a if b is None else min(a, b) for a, b in zip(cur[7], lo, strict=True)],
                    [a if b is None else max(a, b) for a, b in zip(cur[8], hi, strict=True)],
                )
            ok_now = wins[0][0]
            rem.in_flight += int(e.get("in_flight") or 0)
            for name, age_key in (("last_success", "success_age"), ("last_failure", "failure_age")):
                age = e.get(age_key)
                if age is not None:
                    t = now - float(age)
                    current = getattr(rem, name)
                    setattr(rem, name, t if current is None or t > current else current)
            rem.failing = rem.failing or bool(e.get("failing"))
            for name in ("ttft_ewma", "tps_ewma"):
                value = e.get(name)
                if value is not None and ok_now:
                    current = getattr(rem, name)
                    total = ok_before + ok_now
                    setattr(rem, name, value if current is None else (current * ok_before + value * ok_now) / total)
    return out
