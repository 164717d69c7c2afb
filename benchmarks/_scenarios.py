"""Routing quality under simulated provider weather.

Three providers serve one model: ``alpha`` (cheapest, 20 ms), ``beta`` (+20 % price, fastest at
12 ms) and ``gamma`` (2x price, 30 ms), configured in price order. Requests arrive open-loop at a
fixed rate (as users do: nobody waits for anybody else's call) for a fixed time; the weather
changes at fixed times. Each *system* (polyroute with a routing strategy, LiteLLM Router with the
same fallback chain and retry count, or a single provider called directly) runs the same timeline.
A price change is a configuration reload: ``Router.reload()`` for polyroute (breakers, statistics
and connection pools carry over; calls in flight finish at the old prices).

The "cheapest feasible" cost charges every successful request the price of the cheapest endpoint
that could have served it when it was served (its completion time decides the phase, for the
prices too), so a cost ratio of 1.00 is optimal routing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import aiohttp
import orjson

from benchmarks._clients import MAX_TOKENS, MESSAGES, litellm_deployment, quiet_litellm
from benchmarks._control import ServerHandle
from benchmarks._stats import percentile
from benchmarks._weather import Weather

__all__ = [
    "PRICES",
    "PROVIDERS",
    "RAISED_ALPHA",
    "STRATEGIES",
    "Scenario",
    "default_cost_ratio",
    "default_first_pick",
    "make_system",
    "run_timeline",
    "scenarios",
    "summarize",
    "system_name",
]

PROVIDERS = ("alpha", "beta", "gamma")
LATENCY_MS = {"alpha": 20.0, "beta": 12.0, "gamma": 30.0}
#: USD per token (prompt, completion)
PRICES: dict[str, tuple[float, float]] = {"alpha": (5e-7, 1.5e-6), "beta": (6e-7, 1.8e-6), "gamma": (1e-6, 3e-6)}
#: alpha's prices after the price change (4x: now the dearest)
RAISED_ALPHA = (2e-6, 6e-6)
#: what the server reports for every non-streamed answer
USAGE = (20, 10)
MODEL = "chat"
#: polyroute strategies under test, by label: request-level provider preferences (None: the
#: default, OpenRouter's price-weighted load balancing). ``sort: ordered`` (the configured order,
#: alpha then beta then gamma) is the reference that matches LiteLLM's fallback chain.
STRATEGIES: dict[str, Mapping[str, Any] | None] = {
    "default": None,
    "sort: price": {"sort": "price"},
    "sort: latency": {"sort": "latency"},
    "sort: ordered": {"sort": "ordered"},
}
REQUEST_DEADLINE_S = 10.0


def _fair() -> dict[str, Weather]:
    return {p: Weather(latency_ms=LATENCY_MS[p]) for p in PROVIDERS}


def _with(base: dict[str, Weather], provider: str, **changes: Any) -> dict[str, Weather]:
    out = dict(base)
    out[provider] = replace(base[provider], **changes)
    return out


@dataclass(frozen=True, slots=True)
class Phase:
    """From ``start`` seconds on: this weather and these prices."""

    start: float
    weather: dict[str, Weather]
    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(PRICES))


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named weather timeline."""

    key: str
    title: str
    description: str
    phases: tuple[Phase, ...]

    def phase_at(self, t: float) -> int:
        """The index of the phase in force at ``t`` seconds."""
        idx = 0
        for i, p in enumerate(self.phases):
            if p.start <= t:
                idx = i
        return idx


def scenarios(duration: float, seed: int) -> list[Scenario]:
    """The scenarios, their weather in the middle 60 % of ``duration`` (the price change at half-time)."""
    fair = _fair()
    a, b = duration * 0.2, duration * 0.8

    def window(key: str, title: str, description: str, weather: dict[str, Weather]) -> Scenario:
        return Scenario(key, title, description, (Phase(0, fair), Phase(a, weather), Phase(b, fair)))

    expensive = dict(PRICES)
    expensive["alpha"] = RAISED_ALPHA
    return [
        Scenario("fair", "Fair weather", "every provider healthy (the control)", (Phase(0, fair),)),
        window(
            "down",
            "Hard down",
            "alpha refuses connections. polyroute retries a refused connection once, then moves on; three "
            "failures open alpha's breaker for 30 s, longer than the outage, so alpha stays out of rotation "
            "to the end of the run",
            _with(fair, "alpha", down="refuse"),
        ),
        window("brownout", "Brownout", "alpha answers 5x slower (100 ms)", _with(fair, "alpha", multiplier=5.0)),
        window(
            "429",
            "429 storm",
            "alpha answers 429 with Retry-After: 1. A Retry-After of `router.retry.failover_after` (1 s) or "
            "more sends polyroute's call straight to the next candidate, and alpha is held out of rotation "
            "for that second; LiteLLM Router retries and falls back by its own rules",
            _with(fair, "alpha", rate_limited=True, retry_after_s=1.0),
        ),
        Scenario(
            "500",
            "Intermittent 500s",
            "alpha answers 500 to 10 % of requests (seeded), all run long. polyroute retries a 500 once on the "
            "same endpoint after a jittered backoff (up to 0.25 s)",
            (Phase(0, _with(fair, "alpha", error_rate=0.1, seed=seed)),),
        ),
        Scenario(
            "price",
            "Price change",
            "alpha's price goes up 4x at half-time (now the dearest); the routers reload the new prices",
            (Phase(0, fair), Phase(duration / 2, fair, expensive)),
        ),
    ]


def default_first_pick(prices: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    """The chance that polyroute's default strategy tries each provider first when all are stable:
    proportional to the inverse square of the request's price there."""
    weights = {p: 1.0 / request_cost(prices, p) ** 2 for p in PROVIDERS}
    total = sum(weights.values())
    return {p: w / total for p, w in weights.items()}


def default_cost_ratio(prices: Mapping[str, tuple[float, float]]) -> float:
    """The default strategy's expected cost over the cheapest routing when every provider is
    healthy (its first pick always succeeds)."""
    pick = default_first_pick(prices)
    return sum(pick[p] * request_cost(prices, p) for p in PROVIDERS) / min(request_cost(prices, p) for p in PROVIDERS)


def request_cost(prices: Mapping[str, tuple[float, float]], provider: str) -> float:
    """USD for one answer from ``provider`` at ``prices``."""
    prompt, completion = prices[provider]
    return USAGE[0] * prompt + USAGE[1] * completion


def cheapest_feasible(phase: Phase) -> float:
    """The cost of one request served by the cheapest endpoint able to serve it in ``phase``
    (one that fails only some requests can: a retry there succeeds)."""
    feasible = [
        request_cost(phase.prices, p)
        for p in PROVIDERS
        if phase.weather[p].healthy and phase.weather[p].error_rate < 1.0
    ]
    return min(feasible) if feasible else float("nan")


# -- systems -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """How one request ended."""

    ok: bool
    provider: str | None = None
    reported_cost: float | None = None
    error: str | None = None


class System(Protocol):
    """A way of routing the scenario's requests."""

    name: str

    async def call(self) -> Outcome:
        """One request."""
        ...

    async def reprice(self, prices: Mapping[str, tuple[float, float]]) -> None:
        """The prices changed (a config reload)."""
        ...

    async def aclose(self) -> None:
        """Release everything."""
        ...


def polyroute_scenario_config(server: ServerHandle, prices: Mapping[str, tuple[float, float]]) -> dict[str, Any]:
    """The three endpoints in price order; polyroute's defaults, plus a 10 s per-call deadline."""
    return {
        "providers": {p: {"base_url": server.base_url(p)} for p in PROVIDERS},
        "models": {
            MODEL: {
                "endpoints": [
                    {
                        "provider": p,
                        "model": f"{p}-model",
                        "pricing": {"prompt": prices[p][0], "completion": prices[p][1]},
                    }
                    for p in sorted(PROVIDERS, key=lambda p: request_cost(PRICES, p))
                ]
            }
        },
        "router": {"timeout": {"deadline": REQUEST_DEADLINE_S}},
    }


class PolyrouteSystem:
    """polyroute with a strategy (request-level ``provider`` preferences)."""

    def __init__(self, server: ServerHandle, strategy: str) -> None:
        import polyroute

        self._polyroute = polyroute
        self.name = system_name(strategy)
        self.server = server
        self.preferences = STRATEGIES[strategy]
        self.router = polyroute.Router.from_config(polyroute_scenario_config(server, PRICES))

    async def call(self) -> Outcome:
        try:
            if self.preferences is None:
                resp = await self.router.acompletion(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
            else:
                resp = await self.router.acompletion(
                    model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, provider=self.preferences
                )
        except self._polyroute.PolyrouteError as exc:
            return Outcome(False, error=type(exc).__name__)
        route = resp.route
        assert route is not None
        return Outcome(True, route.provider, float(route.cost) if route.cost is not None else None)

    async def reprice(self, prices: Mapping[str, tuple[float, float]]) -> None:
        # a reload: new calls plan at the new prices; calls in flight finish at the old ones
        self.router.reload(polyroute_scenario_config(self.server, prices))

    async def aclose(self) -> None:
        await self.router.aclose()


class LiteLLMSystem:
    """LiteLLM Router: one deployment per provider, the same fallback order, ``num_retries=1``
    (polyroute's default ``max_retries``), a 10 s timeout; every other setting its default."""

    name = "LiteLLM Router"

    def __init__(self, server: ServerHandle) -> None:
        litellm = quiet_litellm()
        names = [f"{MODEL}-{p}" for p in PROVIDERS]
        self.router = litellm.Router(
            model_list=[litellm_deployment(server, p, n) for p, n in zip(PROVIDERS, names, strict=True)],
            fallbacks=[{names[0]: names[1:]}],
            num_retries=1,
            timeout=REQUEST_DEADLINE_S,
        )
        self.model = names[0]

    async def call(self) -> Outcome:
        try:
            resp = await self.router.acompletion(model=self.model, messages=MESSAGES, max_tokens=MAX_TOKENS)
        except Exception as exc:
            return Outcome(False, error=type(exc).__name__)
        return Outcome(True, str(resp._hidden_params.get("model_id")))

    async def reprice(self, prices: Mapping[str, tuple[float, float]]) -> None:
        # LiteLLM routes by the fallback chain whatever the prices: nothing to reload for routing
        return None

    async def aclose(self) -> None:
        return None


class SingleProvider:
    """No router: raw aiohttp straight to alpha, no retry."""

    name = "single provider"

    def __init__(self, server: ServerHandle) -> None:
        self.url = server.base_url("alpha") + "/chat/completions"
        self.body = orjson.dumps({"model": "alpha-model", "messages": MESSAGES, "max_tokens": MAX_TOKENS})
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100), timeout=aiohttp.ClientTimeout(total=REQUEST_DEADLINE_S)
        )

    async def call(self) -> Outcome:
        try:
            async with self.session.post(
                self.url, data=self.body, headers={"Content-Type": "application/json"}
            ) as resp:
                orjson.loads(await resp.read())
                if resp.status != 200:
                    return Outcome(False, error=f"HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Outcome(False, error=type(exc).__name__)
        return Outcome(True, "alpha")

    async def reprice(self, prices: Mapping[str, tuple[float, float]]) -> None:
        return None

    async def aclose(self) -> None:
        await self.session.close()


def system_name(strategy: str) -> str:
    """How a polyroute system with ``strategy`` is labelled in the results."""
    return f"polyroute ({strategy})"


def make_system(kind: str, server: ServerHandle, strategy: str = "default") -> System:
    """The system for a worker kind: polyroute (with ``strategy``), litellm, or raw (single provider)."""
    if kind == "polyroute":
        return PolyrouteSystem(server, strategy)
    if kind == "litellm":
        return LiteLLMSystem(server)
    if kind == "raw":
        return SingleProvider(server)
    raise ValueError(f"no scenario system for {kind!r}")


# -- running -----------------------------------------------------------------------------------


async def run_timeline(
    system: System, scenario: Scenario, server: ServerHandle, *, rate: float, duration: float
) -> list[dict[str, Any]]:
    """Send ``rate`` requests per second for ``duration`` seconds while the weather follows the scenario.

    One record per request: phase, outcome, latency, provider, cost at the prices in force.
    """
    loop = asyncio.get_running_loop()
    n = int(rate * duration)
    records: list[dict[str, Any]] = []
    applied = -1
    tasks: list[asyncio.Task[None]] = []

    async def one(phase_idx: int) -> None:
        t0 = time.perf_counter()
        try:
            outcome = await asyncio.wait_for(system.call(), REQUEST_DEADLINE_S + 5)
        except TimeoutError:
            outcome = Outcome(False, error="TimeoutError")
        latency = time.perf_counter() - t0
        served = scenario.phase_at(loop.time() - start)
        prices = scenario.phases[served].prices
        records.append(
            {
                "sent_phase": phase_idx,
                "phase": served,
                "ok": outcome.ok,
                "latency_s": latency,
                "provider": outcome.provider,
                "cost": request_cost(prices, outcome.provider) if outcome.ok and outcome.provider else 0.0,
                "reported_cost": outcome.reported_cost,
                "error": outcome.error,
            }
        )

    server.weather(scenario.phases[0].weather)
    start = loop.time()
    for i in range(n):
        at = i / rate
        idx = scenario.phase_at(at)
        if idx != applied:
            phase = scenario.phases[idx]
            if applied >= 0:
                server.weather(phase.weather)
                if phase.prices != scenario.phases[applied].prices:
                    await system.reprice(phase.prices)
            applied = idx
        delay = start + at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(idx)))
    await asyncio.gather(*tasks)
    return records


def summarize(records: list[dict[str, Any]], scenario: Scenario) -> dict[str, Any]:
    """Success rate, latency percentiles (successful requests) and cost against the cheapest feasible."""
    ok = [r for r in records if r["ok"]]
    latencies = sorted(r["latency_s"] for r in ok)
    cost = sum(r["cost"] for r in ok)
    ideal = sum(cheapest_feasible(scenario.phases[r["phase"]]) for r in ok)
    reported = [r["reported_cost"] for r in ok if r["reported_cost"] is not None]
    served: dict[str, int] = {}
    errors: dict[str, int] = {}
    for r in records:
        if r["ok"]:
            served[r["provider"]] = served.get(r["provider"], 0) + 1
        else:
            errors[r["error"]] = errors.get(r["error"], 0) + 1
    return {
        "requests": len(records),
        "success_rate": len(ok) / len(records) if records else float("nan"),
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
        "max_ms": latencies[-1] * 1e3 if latencies else float("nan"),
        "slow": sum(1 for x in latencies if x > 0.5),
        "cost_usd": cost,
        "ideal_cost_usd": ideal,
        "cost_ratio": cost / ideal if ideal else float("nan"),
        "reported_cost_usd": sum(reported) if len(reported) == len(ok) else None,
        "served": served,
        "errors": errors,
    }
