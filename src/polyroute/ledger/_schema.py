"""The ledger's tables, the same for SQLite and PostgreSQL, and the migrations that create them.

Each migration has a version, a name and its statements for each dialect; a database records
the versions it has applied in ``polyroute_migrations``. Money is exact in both: ``TEXT``
decimals in SQLite (summed in Python), ``NUMERIC`` in PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = [
    "COLUMNS",
    "KEYS_TABLE",
    "MIGRATIONS",
    "MIGRATIONS_TABLE",
    "USAGE_TABLE",
    "Migration",
    "apply_migrations",
    "insert_sql",
    "rows_sql",
]

USAGE_TABLE = "polyroute_usage"
SPEND_TABLE = "polyroute_budget_spend"
HOLDS_TABLE = "polyroute_budget_holds"
KEYS_TABLE = "polyroute_gateway_keys"
MIGRATIONS_TABLE = "polyroute_migrations"

#: (column, SQLite type, PostgreSQL type), in :class:`~polyroute.ledger.LedgerRow` order
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("request_id", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("started_at", "REAL NOT NULL", "DOUBLE PRECISION NOT NULL"),
    ("model", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("provider", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("endpoint_model", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("outcome", "TEXT NOT NULL", "TEXT NOT NULL"),
    ("error", "TEXT", "TEXT"),
    ("status", "INTEGER", "INTEGER"),
    ("retry", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
    ("prompt_tokens", "INTEGER NOT NULL DEFAULT 0", "BIGINT NOT NULL DEFAULT 0"),
    ("completion_tokens", "INTEGER NOT NULL DEFAULT 0", "BIGINT NOT NULL DEFAULT 0"),
    ("cached_tokens", "INTEGER NOT NULL DEFAULT 0", "BIGINT NOT NULL DEFAULT 0"),
    ("cache_write_tokens", "INTEGER NOT NULL DEFAULT 0", "BIGINT NOT NULL DEFAULT 0"),
    ("reasoning_tokens", "INTEGER NOT NULL DEFAULT 0", "BIGINT NOT NULL DEFAULT 0"),
    ("cost", "TEXT", "NUMERIC"),
    ("fee", "TEXT", "NUMERIC"),
    ("provider_cost", "TEXT", "NUMERIC"),
    ("cost_disagreement", "INTEGER NOT NULL DEFAULT 0", "BOOLEAN NOT NULL DEFAULT FALSE"),
    ("latency_s", "REAL", "DOUBLE PRECISION"),
    ("ttft_s", "REAL", "DOUBLE PRECISION"),
    ("user_id", "TEXT", "TEXT"),
    ("caller_key", "TEXT", "TEXT"),
    ("project", "TEXT", "TEXT"),
    ("tags", "TEXT NOT NULL DEFAULT '[]'", "JSONB NOT NULL DEFAULT '[]'"),
    ("metadata", "TEXT NOT NULL DEFAULT '{}'", "JSONB NOT NULL DEFAULT '{}'"),
    # migration 17
    ("kind", "TEXT NOT NULL DEFAULT 'chat'", "TEXT NOT NULL DEFAULT 'chat'"),
    ("usage_estimated", "INTEGER NOT NULL DEFAULT 0", "BOOLEAN NOT NULL DEFAULT FALSE"),
)
COLUMN_NAMES = tuple(c[0] for c in COLUMNS)
#: the columns migration 1 created (later ones are added by their own migration)
_V1_COLUMNS = COLUMNS[:25]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema change, for both dialects."""

    version: int
    name: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


def _create_usage(dialect: int) -> str:
    if dialect == 1:
        key = "id INTEGER PRIMARY KEY AUTOINCREMENT"
    else:
        key = "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    cols = ",\n  ".join(f"{name} {types[dialect - 1]}" for name, *types in _V1_COLUMNS)
    return f"CREATE TABLE {USAGE_TABLE} (\n  {key},\n  {cols}\n)"


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "usage ledger",
        sqlite=(
            _create_usage(1),
            f"CREATE INDEX {USAGE_TABLE}_started_at ON {USAGE_TABLE} (started_at)",
            f"CREATE INDEX {USAGE_TABLE}_request_id ON {USAGE_TABLE} (request_id)",
        ),
        postgres=(
            _create_usage(2),
            f"CREATE INDEX {USAGE_TABLE}_started_at ON {USAGE_TABLE} (started_at)",
            f"CREATE INDEX {USAGE_TABLE}_request_id ON {USAGE_TABLE} (request_id)",
        ),
    ),
    Migration(
        2,
        "budget counters and reservations",
        sqlite=(
            f"CREATE TABLE {SPEND_TABLE} (counter TEXT PRIMARY KEY, spent TEXT NOT NULL DEFAULT '0')",
            f"CREATE TABLE {HOLDS_TABLE} (hold_id TEXT NOT NULL, counter TEXT NOT NULL, amount TEXT NOT NULL,"
            " expires_at REAL NOT NULL, PRIMARY KEY (hold_id, counter))",
            f"CREATE INDEX {HOLDS_TABLE}_counter ON {HOLDS_TABLE} (counter)",
        ),
        postgres=(
            f"CREATE TABLE {SPEND_TABLE} (counter TEXT PRIMARY KEY, spent NUMERIC NOT NULL DEFAULT 0)",
            f"CREATE TABLE {HOLDS_TABLE} (hold_id TEXT NOT NULL, counter TEXT NOT NULL, amount NUMERIC NOT NULL,"
            " expires_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (hold_id, counter))",
            f"CREATE INDEX {HOLDS_TABLE}_counter ON {HOLDS_TABLE} (counter)",
        ),
    ),
    # numbered after its issue (16) so that other new tables can take 3, 4... without a clash
    Migration(
        16,
        "gateway keys",
        sqlite=(
            f"CREATE TABLE {KEYS_TABLE} (hash TEXT PRIMARY KEY, secret_hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
            " label TEXT NOT NULL, limit_usd TEXT, limit_reset TEXT, models TEXT NOT NULL DEFAULT '[]',"
            " providers TEXT NOT NULL DEFAULT '[]', rpm INTEGER, disabled INTEGER NOT NULL DEFAULT 0,"
            " created_at REAL NOT NULL, updated_at REAL)",
        ),
        postgres=(
            f"CREATE TABLE {KEYS_TABLE} (hash TEXT PRIMARY KEY, secret_hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
            " label TEXT NOT NULL, limit_usd NUMERIC, limit_reset TEXT, models JSONB NOT NULL DEFAULT '[]',"
            " providers JSONB NOT NULL DEFAULT '[]', rpm INTEGER, disabled BOOLEAN NOT NULL DEFAULT FALSE,"
            " created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION)",
        ),
    ),
    # numbered after its issue (17), like 16
    Migration(
        17,
        "call kind (chat, embedding) and estimated usage",
        sqlite=tuple(f"ALTER TABLE {USAGE_TABLE} ADD COLUMN {name} {lite}" for name, lite, _ in COLUMNS[25:]),
        postgres=tuple(f"ALTER TABLE {USAGE_TABLE} ADD COLUMN {name} {pg}" for name, _, pg in COLUMNS[25:]),
    ),
)


def insert_sql(placeholder: str, *, rows: int = 1) -> str:
    """``INSERT INTO polyroute_usage (...) VALUES (...)[, (...)...]`` for ``rows`` rows, with
    ``placeholder`` (``?`` or ``%s``)."""
    names = ", ".join(COLUMN_NAMES)
    marks = "(" + ", ".join([placeholder] * len(COLUMN_NAMES)) + ")"
    return f"INSERT INTO {USAGE_TABLE} ({names}) VALUES {', '.join([marks] * rows)}"


def rows_sql(placeholder: str, *, where: tuple[str, ...] = ()) -> str:
    """``SELECT`` every column of the rows whose ``started_at`` is in ``[since, until)``, oldest first,
    with ``placeholder`` (``?`` or ``%s``) for the two bounds, then one for each column in
    ``where`` (an equality test each)."""
    names = ", ".join(COLUMN_NAMES)
    tests = [f"started_at >= {placeholder}", f"started_at < {placeholder}"]
    tests += [f"{column} = {placeholder}" for column in where]
    return f"SELECT {names} FROM {USAGE_TABLE} WHERE {' AND '.join(tests)} ORDER BY id"


class Executor(Protocol):
    """A DB-API connection's ``execute`` (sqlite3's and psycopg's)."""

    def execute(self, query: str, params: tuple[Any, ...] = ..., /) -> Iterable[Any]: ...


def apply_migrations(conn: Executor, dialect: Literal["sqlite", "postgres"]) -> list[int]:
    """Record migrations in ``polyroute_migrations`` (created if absent) and apply, in order, those it
    does not list; return the versions applied. The caller holds the transaction and its lock."""
    real, placeholder = ("REAL", "?") if dialect == "sqlite" else ("DOUBLE PRECISION", "%s")
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        f" applied_at {real} NOT NULL)"
    )
    done = {v for (v,) in conn.execute(f"SELECT version FROM {MIGRATIONS_TABLE}")}
    insert = f"INSERT INTO {MIGRATIONS_TABLE} VALUES ({placeholder}, {placeholder}, {placeholder})"
    applied = []
    for m in MIGRATIONS:
        if m.version in done:
            continue
        for statement in m.sqlite if dialect == "sqlite" else m.postgres:
            conn.execute(statement)
        conn.execute(insert, (m.version, m.name, time.time()))
        applied.append(m.version)
    return applied
