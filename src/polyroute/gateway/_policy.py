"""What a gateway key may do, checked before anything is sent upstream.

- :func:`authenticate`: the ``Authorization: Bearer`` key, looked up in memory and compared in
  constant time (401 when missing, unknown or disabled).
- :class:`RateLimiter`: each key's requests per minute, a token bucket per key (429 with
  ``Retry-After``), kept only for keys of the key table's current copy. Counted per process:
  with ``--workers N`` each worker allows the key's rate.
- :func:`restrict`: the key's model and provider allowlists (403), applied to the call's
  ``model``/``models`` and folded into its ``provider.only`` preference so the router never
  plans another provider.
- :class:`KeyBudgetGuard`: a key's credit limit is a budget rule on ``caller_key`` with the key's
  reset period, reserved at the worst case before every attempt by the budget machinery (402
  when it would be overspent), so concurrent calls never overspend a key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from polyroute._request import ChatRequest
from polyroute.accounting._settings import key_fingerprint
from polyroute.budgets import BudgetGuard, BudgetRule, CallBudget
from polyroute.budgets._guard import window
from polyroute.budgets._store import Charge
from polyroute.gateway._errors import GatewayError
from polyroute.gateway._keys import KeyRecord, KeyStore

if TYPE_CHECKING:
    from polyroute._router import Router

__all__ = ["KeyBudgetGuard", "RateLimiter", "attach_key_budgets", "authenticate", "restrict"]


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header."""
    if not header or header[:7].lower() != "bearer ":
        return None
    return header[7:].strip() or None


def authenticate(keys: KeyStore, header: str | None) -> KeyRecord:
    """The enabled key presented in ``header``, or a 401 :class:`GatewayError` (the key is never echoed)."""
    token = bearer(header)
    if token is None:
        raise GatewayError(
            401, "No auth credentials found: send Authorization: Bearer <key>", type="authentication_error"
        )
    record = keys.authenticate(token)
    if record is None:
        raise GatewayError(401, "Invalid API key", type="authentication_error")
    if record.disabled:
        raise GatewayError(401, f"API key {record.label} is disabled", type="authentication_error")
    return record


class RateLimiter:
    """Token buckets of ``rpm`` requests per minute, one per key, on the ``now`` clock (seconds).

    With ``keys`` (the gateway's :class:`KeyStore`), the buckets are only of keys of its current
    table that have an ``rpm``: when the store's :attr:`~KeyStore.version` moves (every re-read
    of the table, and every change made through it) the buckets of keys deleted or left without
    an ``rpm`` are dropped, and those of the other keys kept as they are, so a re-read neither
    lets a key exceed its rate nor leaves anything of a deleted key in memory.
    """

    def __init__(self, now: Callable[[], float], keys: KeyStore | None = None) -> None:
        self._now = now
        self._keys = keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key hash -> (tokens, at)
        self._version = keys.version if keys is not None else 0  # of the table the buckets are of
        self._lock = threading.Lock()

    def _forget_dropped(self) -> None:
        """Drop the buckets of keys no longer in the key store's table, or with no ``rpm`` any
        more, once per version of the table (under ``_lock``)."""
        keys = self._keys
        if keys is None:
            return
        version = keys.version  # read before the records: the store replaces them, then the version
        if version == self._version:
            return
        self._version = version
        kept: dict[str, tuple[float, float]] = {}
        for hash_, bucket in self._buckets.items():
            current = keys.get(hash_)
            if current is not None and current.rpm is not None:
                kept[hash_] = bucket
        self._buckets = kept

    def _put(self, record: KeyRecord, bucket: tuple[float, float]) -> None:
        """Keep ``record``'s bucket, unless its key has been deleted from the table meanwhile."""
        if self._keys is None or self._keys.get(record.hash) is not None:
            self._buckets[record.hash] = bucket

    def check(self, record: KeyRecord) -> None:
        """Take one request from ``record``'s bucket, or raise a 429 :class:`GatewayError`."""
        rpm = record.rpm
        now = self._now()
        with self._lock:
            self._forget_dropped()
            if rpm is None:
                return
            rate = rpm / 60.0
            tokens, at = self._buckets.get(record.hash, (float(rpm), now))
            tokens = min(float(rpm), tokens + (now - at) * rate)
            if tokens < 1.0:
                self._put(record, (tokens, now))
                raise GatewayError(
                    429,
                    f"rate limit of {rpm} requests per minute exceeded for key {record.label}",
                    type="rate_limit_error",
                    retry_after=(1.0 - tokens) / rate,
                )
            self._put(record, (tokens - 1.0, now))


def restrict(record: KeyRecord, model: Any, params: MutableMapping[str, Any]) -> None:
    """Apply ``record``'s allowlists to a call of ``model`` with ``params`` (changed in place)."""
    if record.models:
        names = [model] if isinstance(model, str) else []
        models = params.get("models")
        if isinstance(models, list):
            names += [m for m in models if isinstance(m, str)]
        allowed = set(record.models)
        denied = [n for n in names if n not in allowed and n.split(":", 1)[0] not in allowed]
        if denied:
            raise GatewayError(403, f"this key may not use model {denied[0]!r}", type="permission_error", param="model")
    if record.providers:
        provider = params.get("provider")
        prefs = dict(provider) if isinstance(provider, dict) else {}
        only = prefs.get("only")
        allowed_providers = list(record.providers)
        if isinstance(only, list):
            allowed_providers = [p for p in only if p in record.providers]
            if not allowed_providers:
                raise GatewayError(
                    403,
                    "provider.only names no provider this key may use",
                    type="permission_error",
                    param="provider.only",
                )
        prefs["only"] = allowed_providers
        params["provider"] = prefs


class KeyBudgetGuard(BudgetGuard):
    """A :class:`~polyroute.budgets.BudgetGuard` that also charges each gateway key's credit limit
    (the key is the call's ``caller_key``: its id ``hash``)."""

    __slots__ = ("_limits", "_limits_version", "keys")

    def __init__(self, base: BudgetGuard, keys: KeyStore) -> None:
        super().__init__(base.rules, base.store, clock=base.clock, costs=base.costs, estimator=base.estimator)
        self.keys = keys
        #: key hash -> (the record they were made from, its rule, its counter's prefix), for the
        #: keys of one version of the key store's table (``_limits_version``) only
        self._limits: dict[str, tuple[KeyRecord, BudgetRule, str]] = {}
        self._limits_version = keys.version

    def _limit(self, record: KeyRecord) -> tuple[BudgetRule, str] | None:
        """``record``'s budget rule and counter prefix, made once per version of the record.

        The cache holds only keys of the key store's current table: when the store re-reads it
        (every ``keys_refresh_seconds``, and at once after a change made through this process:
        a key created, changed, rotated or deleted) the cache starts again, so an entry for a key
        deleted or changed, here or by another worker, does not outlive that re-read."""
        version = self.keys.version
        if version != self._limits_version:
            self._limits = {}  # every record of the new table is a new object: nothing carries over
            self._limits_version = version
        limits = self._limits
        found = limits.get(record.hash)
        if found is not None and found[0] is record:
            return found[1], found[2]
        rule = record.budget_rule
        if rule is None:
            limits.pop(record.hash, None)
            return None
        prefix = f"{rule.id}|{key_fingerprint(record.hash)}|"
        if self.keys.get(record.hash) is record:  # not a record the store has just replaced or dropped
            limits[record.hash] = (record, rule, prefix)
        return rule, prefix

    def start(self, request: ChatRequest) -> CallBudget | None:
        budget = super().start(request)
        key = request.caller.key
        record = self.keys.get(key) if key is not None else None
        limit = self._limit(record) if record is not None else None
        if limit is None or record is None:
            return budget
        rule, prefix = limit
        period = window(rule.period, self.clock.time())
        counter = prefix + period
        label = f"key {record.label} ({rule.period} {period}, ${rule.limit_usd})"
        charges = (*budget.charges, Charge(counter, rule.limit_usd)) if budget else (Charge(counter, rule.limit_usd),)
        labels = {**budget.labels, counter: label} if budget else {counter: label}
        return CallBudget(self, request, charges, labels)

    def key_balance(self, record: KeyRecord) -> tuple[Any, Any] | None:
        """``(spent, reserved)`` of ``record``'s limit in the current period (``None``: no limit)."""
        rule = record.budget_rule
        return None if rule is None else self.spent(rule, record.hash)


def attach_key_budgets(router: Router, keys: KeyStore) -> tuple[KeyBudgetGuard, bool]:
    """Make ``router`` charge gateway keys' credit limits (keeping its configured budgets and
    their counter store: the state backend's (Redis) or the ledger's database). Returns the guard
    and whether its counter store is new (then the caller closes it: the router does not)."""
    current = router.budgets
    if isinstance(current, KeyBudgetGuard):
        return current, False
    new_store = current is None
    if current is None:
        # where the router would keep counters: the state backend's store (Redis), else the ledger's database
        current = BudgetGuard((), router.budget_store(), clock=router.clock, costs=router.catalog.settings.costs)
    guard = KeyBudgetGuard(current, keys)
    router.set_budgets(guard)
    return guard, new_store
