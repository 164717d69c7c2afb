"""Budget counters in Redis: one atomic script per reservation, no database round trip.

Each counter is a Redis string of spent amount and a hash of holds (``hold id -> amount:expiry``).
A reservation runs one Lua script: drop the counters' expired holds, check every limit against
spent plus held plus the amount, and add the hold to every counter, or to none. Redis runs a
script alone, so concurrent reservations from any number of processes can never overspend
together. The holds of calls in flight are renewed (:meth:`RedisBudgetStore.renew`: one script
moves their expiries) until they are settled. Amounts are integers of 10^-10 USD (exact in
Lua's doubles up to about $900,000 per counter); a reservation rounds up, a settlement to the
nearest unit. Keys expire: a day's counter some days after its day, a month's after two
months, a total's a year after its last charge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from polyroute.budgets._store import Charge, Refusal

if TYPE_CHECKING:
    from polyroute.state._redis import RedisState

__all__ = ["RedisBudgetStore"]

_UNIT = Decimal("1e-10")
_DAY_MS = 86_400_000

_RESERVE = """
local n = tonumber(ARGV[1])
local hold, amount, now, expires = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
for i = 1, n do
  local spent = tonumber(redis.call('GET', KEYS[i]) or '0')
  local holds = KEYS[n + i]
  local held = 0
  local all = redis.call('HGETALL', holds)
  for j = 1, #all, 2 do
    local v = all[j + 1]
    local sep = string.find(v, ':', 1, true)
    if tonumber(string.sub(v, sep + 1)) <= now then
      redis.call('HDEL', holds, all[j])
    else
      held = held + tonumber(string.sub(v, 1, sep - 1))
    end
  end
  if spent + held + amount > tonumber(ARGV[5 + i]) then
    return {i, tostring(spent), tostring(held)}
  end
end
for i = 1, n do
  redis.call('HSET', KEYS[n + i], hold, ARGV[3] .. ':' .. expires)
  redis.call('PEXPIRE', KEYS[n + i], tonumber(ARGV[5 + n + i]))
end
return 0
"""

_SETTLE = """
local n = tonumber(ARGV[1])
local amount = tonumber(ARGV[3])
for i = 1, n do
  redis.call('HDEL', KEYS[n + i], ARGV[2])
  if amount > 0 then
    redis.call('INCRBY', KEYS[i], amount)
    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[3 + i]))
  end
end
return 0
"""


_RENEW = """
local expires, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, #KEYS do
  local hold = ARGV[2 + i]
  local v = redis.call('HGET', KEYS[i], hold)
  if v then
    local sep = string.find(v, ':', 1, true)
    if tonumber(string.sub(v, sep + 1)) < expires then
      redis.call('HSET', KEYS[i], hold, string.sub(v, 1, sep) .. ARGV[1])
    end
    if redis.call('PTTL', KEYS[i]) < ttl then
      redis.call('PEXPIRE', KEYS[i], ttl)
    end
  end
end
return 0
"""


def _units(amount: Decimal, rounding: str) -> int:
    return int((amount / _UNIT).to_integral_value(rounding=rounding))


def _ttl_ms(counter: str) -> int:
    """How long a counter is kept: past the end of its period (``rule|subject|window``)."""
    window = counter.rsplit("|", 1)[-1]
    if window == "total":
        return 366 * _DAY_MS
    if "W" in window:
        return 15 * _DAY_MS
    if window.count("-") == 2:
        return 3 * _DAY_MS
    return 63 * _DAY_MS


class RedisBudgetStore:
    """Budget counters in the Redis of a :class:`~polyroute.state.RedisState`.

    While Redis cannot be reached, reservations raise (the router then refuses the call: budgets
    fail closed), unless the state's ``budgets_on_error`` is ``"open"``: then counters are kept
    in ``fallback`` (this process's memory) until Redis returns.
    """

    def __init__(self, state: RedisState, fallback: Callable[[], Any] | None = None) -> None:
        self._state = state
        self._prefix = state.prefix + ":budget:"
        self._fallback = fallback() if fallback is not None else None

    def _keys(self, charges: Sequence[Charge]) -> list[str]:
        p = self._prefix
        return [p + "spent:" + c.counter for c in charges] + [p + "holds:" + c.counter for c in charges]

    def _reserve_args(
        self, hold_id: str, charges: Sequence[Charge], amount: Decimal, now: float, expires_at: float
    ) -> list[Any]:
        ttl = int(max(expires_at - now, 1.0) * 1000) + 60_000
        return [
            len(charges),
            hold_id,
            _units(amount, ROUND_CEILING),
            repr(now),
            repr(expires_at),
            *(_units(c.limit, ROUND_HALF_UP) for c in charges),
            *(max(ttl, _ttl_ms(c.counter)) for c in charges),
        ]

    def _settle_args(self, hold_id: str, charges: Sequence[Charge], amount: Decimal) -> list[Any]:
        return [len(charges), hold_id, max(_units(amount, ROUND_HALF_UP), 0), *(_ttl_ms(c.counter) for c in charges)]

    @staticmethod
    def _refusal(charges: Sequence[Charge], found: Any) -> Refusal | None:
        if not isinstance(found, list):
            return None
        i, spent, held = found
        return Refusal(charges[int(i) - 1], Decimal(int(float(spent))) * _UNIT, Decimal(int(float(held))) * _UNIT)

    def reserve(
        self, hold_id: str, charges: Sequence[Charge], amount: Decimal, *, now: float, expires_at: float
    ) -> Refusal | None:
        """Hold ``amount`` on every counter, or on none (one atomic script)."""
        args = self._reserve_args(hold_id, charges, amount, now, expires_at)
        try:
            found = self._state.run_script(_RESERVE, self._keys(charges), args)
        except Exception as exc:
            return self._fallback_reserve(exc, hold_id, charges, amount, now=now, expires_at=expires_at)
        return self._refusal(charges, found)

    async def areserve(
        self, hold_id: str, charges: Sequence[Charge], amount: Decimal, *, now: float, expires_at: float
    ) -> Refusal | None:
        """:meth:`reserve` over ``redis.asyncio``."""
        args = self._reserve_args(hold_id, charges, amount, now, expires_at)
        try:
            found = await self._state.arun_script(_RESERVE, self._keys(charges), args)
        except Exception as exc:
            return self._fallback_reserve(exc, hold_id, charges, amount, now=now, expires_at=expires_at)
        return self._refusal(charges, found)

    def _fallback_reserve(
        self, exc: Exception, hold_id: str, charges: Sequence[Charge], amount: Decimal, *, now: float, expires_at: float
    ) -> Refusal | None:
        if self._fallback is None:
            self._state.budget_refused()
            raise exc
        self._state.fell_back()
        refusal: Refusal | None = self._fallback.reserve(hold_id, charges, amount, now=now, expires_at=expires_at)
        return refusal

    def _renew_call(
        self, holds: Sequence[tuple[str, Sequence[Charge]]], expires_at: float
    ) -> tuple[list[str], list[Any]]:
        keys: list[str] = []
        ids: list[str] = []
        for hold_id, charges in holds:
            for c in charges:
                keys.append(self._prefix + "holds:" + c.counter)
                ids.append(hold_id)
        ttl = int(max(expires_at - self._state.clock.time(), 1.0) * 1000) + 60_000
        return keys, [repr(expires_at), ttl, *ids]

    def renew(self, holds: Sequence[tuple[str, Sequence[Charge]]], *, expires_at: float) -> None:
        """Move the expiry of the holds that still exist to ``expires_at`` (never earlier); one script.
        While Redis is unreachable with a memory fallback, there is nothing to renew."""
        keys, args = self._renew_call(holds, expires_at)
        if not keys:
            return
        try:
            self._state.run_script(_RENEW, keys, args)
        except Exception:
            if self._fallback is None:
                raise

    async def arenew(self, holds: Sequence[tuple[str, Sequence[Charge]]], *, expires_at: float) -> None:
        """:meth:`renew` over ``redis.asyncio``."""
        keys, args = self._renew_call(holds, expires_at)
        if not keys:
            return
        try:
            await self._state.arun_script(_RENEW, keys, args)
        except Exception:
            if self._fallback is None:
                raise

    def settle(self, hold_id: str, charges: Sequence[Charge], amount: Decimal) -> None:
        """Remove the hold and add ``amount`` to every counter."""
        try:
            self._state.run_script(_SETTLE, self._keys(charges), self._settle_args(hold_id, charges, amount))
        except Exception:
            if self._fallback is None:
                raise
            self._fallback.settle(hold_id, charges, amount)

    async def asettle(self, hold_id: str, charges: Sequence[Charge], amount: Decimal) -> None:
        """:meth:`settle` over ``redis.asyncio``."""
        try:
            await self._state.arun_script(_SETTLE, self._keys(charges), self._settle_args(hold_id, charges, amount))
        except Exception:
            if self._fallback is None:
                raise
            self._fallback.settle(hold_id, charges, amount)

    def balance(self, counter: str, *, now: float) -> tuple[Decimal, Decimal]:
        """``(spent, held)`` of ``counter`` (unexpired holds only)."""
        prefix = self._prefix
        spent_raw, holds = self._state.read_counter(prefix + "spent:" + counter, prefix + "holds:" + counter)
        held = 0
        for value in holds.values():
            amount, _, expiry = value.partition(":")
            if float(expiry) > now:
                held += int(amount)
        return Decimal(int(spent_raw or 0)) * _UNIT, Decimal(held) * _UNIT

    def close(self) -> None:
        """The state backend owns the connections."""

    def __repr__(self) -> str:
        return f"RedisBudgetStore(prefix={self._prefix!r})"
