"""Gateway API keys: created once, stored only as SHA-256 hashes, next to the ledger.

A key looks like ``sk-pr-v1-`` and 64 hex digits. The table ``polyroute_gateway_keys`` lives
in the ledger's database (SQLite file or PostgreSQL; migration 16 of the ledger's schema) and
keeps, per key, a stable public ``hash`` (the SHA-256 of the key as first created: the id in
``/api/v1/keys/{hash}`` and the ``caller_key`` the router sees, so rotation keeps the usage
history), the SHA-256 of the current secret, and its limit, reset period, allowlists and rate.

Authentication is in memory: the store holds every key's record by secret hash and compares
with :func:`hmac.compare_digest`; each process re-reads the table every few seconds
(:meth:`KeyStore.refresh`; the gateway also re-reads it before a request when its copy is older
than that, :meth:`KeyStore.due`), so a key deleted or disabled by another process stops working
within that interval. Every re-read bumps :attr:`KeyStore.version`, which tells what is kept
for the keys (the gateway's credit-limit rules, its rate limiter's buckets) to drop what
belongs to keys no longer there. The secret itself is returned once, by :meth:`KeyStore.create`
and :meth:`KeyStore.rotate`, and never stored, logged or put in an error.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, cast

from polyroute.accounting._settings import BudgetPeriod, BudgetRule, LedgerSettings, key_fingerprint
from polyroute.errors import InvalidRequest
from polyroute.ledger._schema import KEYS_TABLE

__all__ = ["KEY_PREFIX", "LIMIT_RESETS", "KeyRecord", "KeyStore", "LimitReset", "hash_key"]

#: every gateway key starts with this
KEY_PREFIX = "sk-pr-v1-"
LimitReset = Literal["daily", "weekly", "monthly"]
#: OpenRouter's ``limit_reset`` values and the budget periods they become (``None``: never resets)
LIMIT_RESETS: dict[str, BudgetPeriod] = {"daily": "day", "weekly": "week", "monthly": "month"}
_COLUMNS = (
    "hash, secret_hash, name, label, limit_usd, limit_reset, models, providers, rpm, disabled, created_at, updated_at"
)


def hash_key(secret: str) -> str:
    """The SHA-256 of a key, in hex: all the store keeps of it."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _label(secret: str) -> str:
    body = secret[len(KEY_PREFIX) :]
    return f"{KEY_PREFIX}{body[:3]}...{body[-3:]}"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What is stored of a gateway key (never the key): its id ``hash``, ``name``, a masked
    ``label``, credit ``limit`` in USD (``None``: unlimited) reset ``daily``/``weekly``/``monthly``
    (``None``: never), allowlists of ``models`` and ``providers`` (empty: all), requests per
    minute ``rpm`` (``None``: unlimited), whether it is ``disabled``, and Unix times."""

    hash: str
    name: str
    label: str
    limit: Decimal | None = None
    limit_reset: LimitReset | None = None
    models: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    rpm: int | None = None
    disabled: bool = False
    created_at: float = 0.0
    updated_at: float | None = None
    secret_hash: str = ""

    @property
    def fingerprint(self) -> str:
        """How this key's calls appear in the ledger's ``caller_key`` column and in budget counters."""
        return key_fingerprint(self.hash)

    @property
    def budget_rule(self) -> BudgetRule | None:
        """The budget rule of this key's credit limit (``None``: no limit)."""
        if self.limit is None:
            return None
        period: BudgetPeriod = LIMIT_RESETS[self.limit_reset] if self.limit_reset else "total"
        return BudgetRule(scope="key", limit_usd=self.limit, period=period, match=self.hash)

    def __repr__(self) -> str:
        return (
            f"KeyRecord(hash={self.hash[:12]}..., name={self.name!r}, label={self.label!r}, disabled={self.disabled})"
        )


def check_limit(value: Any, param: str = "limit") -> Decimal | None:
    """A credit limit in USD (``None``: unlimited), or :class:`InvalidRequest`."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidRequest("must be a number of USD or null", param=param)
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise InvalidRequest("must be a number of USD or null", param=param) from None
    if not d.is_finite() or d < 0:
        raise InvalidRequest("must be a non-negative number of USD", param=param)
    return d


def check_reset(value: Any, param: str = "limit_reset") -> LimitReset | None:
    """``daily``, ``weekly``, ``monthly`` or ``None``, or :class:`InvalidRequest`."""
    if value is None or value in ("never", "total"):
        return None
    if value not in LIMIT_RESETS:
        raise InvalidRequest("must be daily, weekly, monthly or null", param=param)
    return cast("LimitReset", value)


def check_names(value: Any, param: str) -> tuple[str, ...]:
    """A list of non-empty names, or :class:`InvalidRequest`."""
    if value is None:
        return ()
    if (
        isinstance(value, str)
        or not isinstance(value, (list, tuple))
        or not all(isinstance(v, str) and v for v in value)
    ):
        raise InvalidRequest("must be a list of names", param=param)
    return tuple(value)


def check_rpm(value: Any, param: str = "rpm") -> int | None:
    """A positive number of requests per minute (``None``: unlimited), or :class:`InvalidRequest`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest("must be a positive integer or null", param=param)
    return value


class _Table:
    """The keys table over one DB-API connection (sqlite3 or psycopg), one statement at a time."""

    def __init__(self, conn: Any, placeholder: str, dialect: Literal["sqlite", "postgres"]) -> None:
        self._conn = conn
        self._p = placeholder
        self.dialect = dialect
        self._lock = threading.Lock()

    def _q(self, sql: str) -> str:
        return sql.replace("?", self._p)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            cur = self._conn.execute(self._q(sql), tuple(params))
            return list(cur.fetchall()) if cur.description is not None else []

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _record(row: Sequence[Any]) -> KeyRecord:
    (hash_, secret_hash, name, label, limit, reset, models, providers, rpm, disabled, created, updated) = row
    return KeyRecord(
        hash=hash_,
        secret_hash=secret_hash,
        name=name,
        label=label,
        limit=None if limit is None else Decimal(str(limit)),
        limit_reset=reset,
        models=tuple(json.loads(models) if isinstance(models, str) else models),
        providers=tuple(json.loads(providers) if isinstance(providers, str) else providers),
        rpm=rpm,
        disabled=bool(disabled),
        created_at=float(created),
        updated_at=None if updated is None else float(updated),
    )


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: "leave as it is" in :meth:`KeyStore.update`
UNSET: Any = _Unset()


class KeyStore:
    """Gateway keys in the ledger's database (see the module docs). Thread-safe; blocking: call
    it from a thread on an event loop (the gateway does), except :meth:`authenticate`, which only
    reads memory."""

    def __init__(self, table: _Table, *, now: Callable[[], float] = time.time) -> None:
        self._table = table
        self._now = now
        self._by_secret: dict[str, KeyRecord] = {}
        self._by_hash: dict[str, KeyRecord] = {}
        self._versions = itertools.count(1)  # next() is atomic: refreshes from two threads differ
        self._version = 0
        self._read_at = now()
        self.refresh()

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def memory(cls, *, now: Callable[[], float] = time.time) -> KeyStore:
        """Keys in this process's memory only (tests, a throw-away gateway)."""
        from polyroute.ledger._schema import apply_migrations

        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        apply_migrations(conn, "sqlite")
        return cls(_Table(conn, "?", "sqlite"), now=now)

    @classmethod
    def open(cls, settings: LedgerSettings | None = None, *, now: Callable[[], float] = time.time) -> KeyStore:
        """The keys in the database of the ledger ``settings`` describe (the default SQLite file
        when ``None``), created and migrated if needed."""
        from polyroute.ledger._url import default_ledger_path, is_postgres_url, sqlite_path

        url = settings.url if settings is not None else None
        if url is not None and is_postgres_url(url):
            from polyroute.ledger._postgres import connect_postgres, migrate_postgres

            schema = settings.schema if settings is not None else "public"
            pg = connect_postgres(url, schema)
            migrate_postgres(pg, schema)
            return cls(_Table(pg, "%s", "postgres"), now=now)
        from polyroute.ledger._sqlite import connect, migrate

        path = sqlite_path(url) if url is not None else default_ledger_path()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = connect(Path(path))
        migrate(conn)
        return cls(_Table(conn, "?", "sqlite"), now=now)

    # -- reading -----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read every key from the database (changes made by other processes)."""
        self._read_at = self._now()  # a read that fails is not retried at once by :meth:`due` callers
        records = [_record(r) for r in self._table.execute(f"SELECT {_COLUMNS} FROM {KEYS_TABLE}")]
        self._swap(records)

    def due(self, max_age: float) -> bool:
        """Whether the table was last re-read (or a re-read was last tried) ``max_age`` seconds
        ago or more, on the store's ``now`` clock: then :meth:`refresh` before trusting it."""
        return self._now() - self._read_at >= max_age

    @property
    def version(self) -> int:
        """A number that changes every time the keys in memory are replaced (every
        :meth:`refresh`, and every change made through this store): whatever is derived from the
        records and kept (a rule, a prefix) is stale once it moves."""
        return self._version

    def _swap(self, records: Iterable[KeyRecord]) -> None:
        by_hash = {r.hash: r for r in records}
        self._by_hash = by_hash
        self._by_secret = {r.secret_hash: r for r in by_hash.values()}
        self._version = next(self._versions)

    def authenticate(self, secret: str) -> KeyRecord | None:
        """The record of key ``secret`` if it exists (disabled or not), compared in constant time."""
        digest = hash_key(secret)
        record = self._by_secret.get(digest)
        if record is None or not hmac.compare_digest(record.secret_hash, digest):
            return None
        return record

    def get(self, hash: str) -> KeyRecord | None:
        """The key with id ``hash``."""
        return self._by_hash.get(hash)

    def list(self) -> list[KeyRecord]:
        """Every key, oldest first."""
        return sorted(self._by_hash.values(), key=lambda r: (r.created_at, r.hash))

    def by_fingerprint(self) -> dict[str, KeyRecord]:
        """Every key by its ledger fingerprint (the ``caller_key`` column of ledger rows)."""
        return {r.fingerprint: r for r in self._by_hash.values()}

    def __len__(self) -> int:
        return len(self._by_hash)

    # -- writing -----------------------------------------------------------------------------

    def create(
        self,
        name: str,
        *,
        limit: Decimal | float | int | str | None = None,
        limit_reset: str | None = None,
        models: Sequence[str] = (),
        providers: Sequence[str] = (),
        rpm: int | None = None,
    ) -> tuple[str, KeyRecord]:
        """A new key: ``(secret, record)``. The secret is not kept: show it once."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequest("must be a non-empty string", param="name")
        secret = KEY_PREFIX + secrets.token_hex(32)
        digest = hash_key(secret)
        record = KeyRecord(
            hash=digest,
            secret_hash=digest,
            name=name.strip(),
            label=_label(secret),
            limit=check_limit(limit),
            limit_reset=check_reset(limit_reset),
            models=check_names(models, "models"),
            providers=check_names(providers, "providers"),
            rpm=check_rpm(rpm),
            created_at=self._now(),
        )
        self._table.execute(
            f"INSERT INTO {KEYS_TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self._params(record)
        )
        self.refresh()
        return secret, record

    def _params(self, r: KeyRecord) -> tuple[Any, ...]:
        disabled: Any = r.disabled if self._table.dialect == "postgres" else int(r.disabled)
        return (
            r.hash,
            r.secret_hash,
            r.name,
            r.label,
            None if r.limit is None else str(r.limit),
            r.limit_reset,
            json.dumps(list(r.models)),
            json.dumps(list(r.providers)),
            r.rpm,
            disabled,
            r.created_at,
            r.updated_at,
        )

    def _write(self, record: KeyRecord) -> KeyRecord:
        params = self._params(record)
        self._table.execute(
            f"UPDATE {KEYS_TABLE} SET secret_hash = ?, name = ?, label = ?, limit_usd = ?, limit_reset = ?,"
            " models = ?, providers = ?, rpm = ?, disabled = ?, created_at = ?, updated_at = ? WHERE hash = ?",
            (*params[1:], record.hash),
        )
        self.refresh()
        return record

    def _existing(self, hash: str) -> KeyRecord:
        self.refresh()
        record = self._by_hash.get(hash)
        if record is None:
            raise KeyError(hash)
        return record

    def update(
        self,
        hash: str,
        *,
        name: Any = UNSET,
        disabled: Any = UNSET,
        limit: Any = UNSET,
        limit_reset: Any = UNSET,
        models: Any = UNSET,
        providers: Any = UNSET,
        rpm: Any = UNSET,
    ) -> KeyRecord:
        """Change some of a key's settings (``KeyError`` if there is no such key)."""
        record = self._existing(hash)
        changes: dict[str, Any] = {}
        if name is not UNSET:
            if not isinstance(name, str) or not name.strip():
                raise InvalidRequest("must be a non-empty string", param="name")
            changes["name"] = name.strip()
        if disabled is not UNSET:
            if not isinstance(disabled, bool):
                raise InvalidRequest("must be true or false", param="disabled")
            changes["disabled"] = disabled
        if limit is not UNSET:
            changes["limit"] = check_limit(limit)
        if limit_reset is not UNSET:
            changes["limit_reset"] = check_reset(limit_reset)
        if models is not UNSET:
            changes["models"] = check_names(models, "models")
        if providers is not UNSET:
            changes["providers"] = check_names(providers, "providers")
        if rpm is not UNSET:
            changes["rpm"] = check_rpm(rpm)
        return self._write(replace(record, **changes, updated_at=self._now()))

    def rotate(self, hash: str) -> tuple[str, KeyRecord]:
        """A new secret for key ``hash`` (same id, limits and usage); the old secret stops working."""
        record = self._existing(hash)
        secret = KEY_PREFIX + secrets.token_hex(32)
        new = replace(record, secret_hash=hash_key(secret), label=_label(secret), updated_at=self._now())
        return secret, self._write(new)

    def delete(self, hash: str) -> bool:
        """Delete key ``hash``; whether it existed."""
        existed = self._existing_or_none(hash)
        self._table.execute(f"DELETE FROM {KEYS_TABLE} WHERE hash = ?", (hash,))
        self.refresh()
        return existed

    def _existing_or_none(self, hash: str) -> bool:
        try:
            self._existing(hash)
        except KeyError:
            return False
        return True

    def find(self, ref: str) -> KeyRecord | None:
        """The key whose id starts with ``ref`` (at least 8 hex digits) or whose name is ``ref``, if exactly one."""
        self.refresh()
        found = [r for r in self._by_hash.values() if r.name == ref or (len(ref) >= 8 and r.hash.startswith(ref))]
        return found[0] if len(found) == 1 else None

    def close(self) -> None:
        """Close the database connection."""
        self._table.close()

    def __repr__(self) -> str:
        return f"KeyStore({self._table.dialect}, keys={len(self._by_hash)})"
