"""The :class:`Ledger` interface, the observer that feeds it, an in-memory ledger, and opening one by URL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from polyroute._request import Caller, ChatRequest
from polyroute._types import Attempt, Route
from polyroute.accounting._settings import LedgerSettings
from polyroute.errors import ConfigError, PolyrouteError
from polyroute.ledger._queued import time_range
from polyroute.ledger._row import LedgerRow, row_for_attempt
from polyroute.ledger._url import default_ledger_path, is_postgres_url, redact_url, sqlite_path

if TYPE_CHECKING:
    from polyroute.ledger._postgres import PostgresLedger
    from polyroute.ledger._sqlite import SQLiteLedger

__all__ = ["Ledger", "LedgerObserver", "MemoryLedger", "open_ledger"]


@runtime_checkable
class Ledger(Protocol):
    """Where attempts are recorded. ``record`` must be cheap: it is called on the request path."""

    def record(self, row: LedgerRow) -> None:
        """Store ``row`` (possibly later, in the background)."""
        ...

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row recorded so far is stored; ``False`` if ``timeout`` passed first."""
        ...

    def close(self) -> None:
        """Store everything recorded and release resources."""
        ...

    def rows(self, *, since: float | None = None, until: float | None = None) -> Iterator[LedgerRow]:
        """Stored rows whose attempt started in ``[since, until)`` (Unix seconds), oldest first."""
        ...


class LedgerObserver:
    """A :class:`~polyroute.CallObserver` that records every attempt (skipped ones included) in ``ledger``.

    It only hands the attempt over: no I/O on the request path (a ledger with a
    ``record_attempt(request_id, attempt, caller)`` method builds the row off the request path).
    """

    __slots__ = ("_record_attempt", "ledger")

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._record_attempt: Callable[[str, Attempt, Caller], None] | None = getattr(ledger, "record_attempt", None)

    def on_attempt(self, request: ChatRequest, request_id: str, attempt: Attempt) -> None:
        if request.kind != "chat":  # embeddings: the row says so
            self.ledger.record(row_for_attempt(request_id, attempt, request.caller, request.kind))
        elif self._record_attempt is not None:
            self._record_attempt(request_id, attempt, request.caller)
        else:
            self.ledger.record(row_for_attempt(request_id, attempt, request.caller))

    def on_call(self, request: ChatRequest, route: Route | None, error: PolyrouteError | None) -> None:
        return None


class MemoryLedger:
    """A ledger in a list: for tests and short scripts (nothing survives the process)."""

    def __init__(self) -> None:
        self._rows: list[LedgerRow] = []
        self._lock = threading.Lock()

    def record(self, row: LedgerRow) -> None:
        with self._lock:
            self._rows.append(row)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self) -> None:
        return None

    def rows(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        request_id: str | None = None,
        caller_key: str | None = None,
    ) -> Iterator[LedgerRow]:
        """Rows whose attempt started in ``[since, until)``, oldest first; only those of call
        ``request_id`` and of ``caller_key`` (a key's fingerprint) when given."""
        with self._lock:
            rows = list(self._rows)
        lo, hi = time_range(since, until)
        return iter(
            [
                r
                for r in rows
                if lo <= r.started_at < hi
                and (request_id is None or r.request_id == request_id)
                and (caller_key is None or r.caller_key == caller_key)
            ]
        )

    def __repr__(self) -> str:
        return f"MemoryLedger(rows={len(self._rows)})"


def open_ledger(settings: LedgerSettings) -> SQLiteLedger | PostgresLedger:
    """The ledger ``settings`` describe: PostgreSQL for a ``postgresql://`` URL, else an SQLite file
    (the user data directory's ``usage.db`` when no URL is given).

    A database that cannot be opened is a :class:`~polyroute.errors.ConfigError` (the URL's
    password masked).
    """
    url = settings.url
    if url is not None and is_postgres_url(url):
        from polyroute.ledger._postgres import PostgresLedger

        try:
            return PostgresLedger(url, schema=settings.schema, queue_size=settings.queue_size)
        except ImportError:
            raise
        except Exception as exc:
            raise ConfigError(f"cannot open the ledger at {redact_url(url)}: {exc}", path="ledger.url") from None
    from polyroute.ledger._sqlite import SQLiteLedger

    path = sqlite_path(url) if url is not None else default_ledger_path()
    try:
        return SQLiteLedger(path, queue_size=settings.queue_size, durability=settings.durability)
    except Exception as exc:
        raise ConfigError(f"cannot open the ledger at {path}: {exc}", path="ledger.url") from exc
