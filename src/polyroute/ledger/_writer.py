"""The background writer: rows gathered in memory, written in batches by one thread.

Recording appends a row to a bounded list and returns; it wakes the writer thread only when the
thread is idle (the first row after a quiet spell), when a batch is full, or when someone waits
(:meth:`flush`, :meth:`close`), so a busy request path pays for an append, not a thread wake-up
per row. Once woken, the writer gathers rows for up to ``flush_interval`` seconds (less when a
batch fills or someone waits), writes them in one transaction and commits: from then on those
rows are *acknowledged* (they survive the process being killed). Only when ``queue_size`` rows
are waiting does recording wait for room (backpressure, so that rows are never silently lost).
:meth:`flush` waits until every row recorded so far is acknowledged; :meth:`close` flushes and
stops the thread, and runs at interpreter exit for writers nobody closed.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["FLUSH_INTERVAL", "BackgroundWriter"]

log = logging.getLogger("polyroute")

T = TypeVar("T")
#: seconds the writer gathers rows before writing them (unless a batch fills or someone waits)
FLUSH_INTERVAL = 0.02
#: pauses between attempts to write a batch the database refused, then the batch is dropped
_RETRY_DELAYS = (0.05, 0.5, 2.0)


class BackgroundWriter(Generic[T]):
    """Writes items in batches on a dedicated thread; see the module docstring."""

    __slots__ = (
        "_done",
        "_enqueued",
        "_idle",
        "_items",
        "_lock",
        "_on_exit",
        "_queue_size",
        "_room",
        "_settled_cond",
        "_stopping",
        "_thread",
        "_waiters",
        "_wake",
        "_write",
        "acknowledged",
        "batch_size",
        "closed",
        "dropped",
        "flush_interval",
        "rejected",
    )

    def __init__(
        self,
        write: Callable[[list[T]], None],
        *,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = FLUSH_INTERVAL,
        name: str = "polyroute-ledger",
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self._write = write
        self._on_exit = on_exit
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._queue_size = max(1, queue_size)
        self._items: list[T] = []
        self._lock = threading.Lock()
        #: the writer waits on it for rows (idle) or for the gathering interval to end
        self._wake = threading.Condition(self._lock)
        #: recorders wait on it for room in a full queue
        self._room = threading.Condition(self._lock)
        #: flush() waits on it for rows to be settled
        self._settled_cond = threading.Condition(self._lock)
        #: the writer is waiting for a first row (a record must wake it)
        self._idle = False
        #: callers in flush() or a full put(): the writer writes at once
        self._waiters = 0
        self._stopping = False
        self._enqueued = 0
        self._done = 0
        #: rows committed to the database
        self.acknowledged = 0
        #: rows given up on, each one logged: refused alone (``rejected``), or after repeated errors
        self.dropped = 0
        #: rows the database refused on their own (bad values), dropped without taking others along
        self.rejected = 0
        self.closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def put(self, item: T) -> None:
        """Queue ``item``; waits only while the queue is full."""
        with self._lock:
            if self.closed:
                log.error("polyroute ledger: a row was recorded after the ledger was closed; it is not stored")
                return
            if len(self._items) >= self._queue_size:
                self._wait_for_room()
            self._items.append(item)
            self._enqueued += 1
            if self._idle:
                self._idle = False
                self._wake.notify()
            elif len(self._items) == self.batch_size:
                self._wake.notify()

    def _wait_for_room(self) -> None:
        """(Lock held.) Wait until the writer has taken rows off a full queue."""
        self._waiters += 1
        try:
            self._wake.notify()
            while len(self._items) >= self._queue_size and self._thread.is_alive():
                self._room.wait(1.0)
        finally:
            self._waiters -= 1

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every item queued so far is written; ``False`` if ``timeout`` passed first."""
        with self._lock:
            target = self._enqueued
            if self._done >= target:
                return True
            self._waiters += 1
            try:
                self._wake.notify()
                return (
                    self._settled_cond.wait_for(lambda: self._done >= target or not self._thread.is_alive(), timeout)
                    and self._done >= target
                )
            finally:
                self._waiters -= 1

    @property
    def pending(self) -> int:
        """Items queued and not yet written."""
        return self._enqueued - self._done

    def close(self, timeout: float | None = None) -> None:
        """Write everything queued, then stop the thread."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._stopping = True
            self._wake.notify()
        atexit.unregister(self.close)
        self._thread.join(timeout)

    def _urgent(self) -> bool:
        """(Lock held.) Whether to write now rather than gather more rows."""
        return self._waiters > 0 or self._stopping or len(self._items) >= self.batch_size

    def _take(self) -> tuple[list[T], bool]:
        """The next batch to write (empty at the end), and whether the thread should stop after it."""
        with self._lock:
            while not self._items and not self._stopping:
                self._idle = True
                self._wake.wait()
            self._idle = False
            if self.flush_interval > 0 and not self._urgent():
                self._wake.wait_for(self._urgent, self.flush_interval)
            batch = self._items[: self.batch_size]
            del self._items[: self.batch_size]
            self._room.notify_all()
            return batch, self._stopping and not self._items

    def _run(self) -> None:
        try:
            stop = False
            while not stop:
                batch, stop = self._take()
                if batch:
                    self._commit(batch)
        finally:
            if self._on_exit is not None:
                try:
                    self._on_exit()
                except Exception:
                    log.exception("polyroute ledger: closing the database failed")
            with self._lock:
                self._settled_cond.notify_all()
                self._room.notify_all()

    def _commit(self, batch: list[T]) -> None:
        """Write ``batch``; if the database refuses it, find the rows it refuses and drop only those.

        A batch that fails is written again row by row: rows that fail alone are bad rows (a value
        the database cannot store) and are dropped at once, each logged and counted, while the
        rest are written. If every row fails alone the database itself is failing: the batch is
        retried after pauses, then dropped.
        """
        try:
            self._write(batch)
        except Exception:
            if len(batch) == 1:
                self._retry(batch)
                return
            log.warning("polyroute ledger: writing %d rows failed; writing them one by one", len(batch), exc_info=True)
        else:
            self._settled(len(batch), 0)
            return
        failed: list[T] = []
        for item in batch:
            try:
                self._write([item])
            except Exception:
                failed.append(item)
            else:
                self._settled(1, 0)
        if len(failed) == len(batch):
            self._retry(failed)
            return
        for _ in failed:
            log.error("polyroute ledger: a row the database refuses was dropped (other rows were written)")
        self.rejected += len(failed)
        self._settled(0, len(failed))

    def _retry(self, batch: list[T]) -> None:
        for delay in _RETRY_DELAYS:
            log.warning("polyroute ledger: writing %d rows failed; retrying", len(batch))
            time.sleep(delay)
            try:
                self._write(batch)
            except Exception:
                continue
            self._settled(len(batch), 0)
            return
        log.error("polyroute ledger: %d rows could not be written and are dropped", len(batch))
        self._settled(0, len(batch))

    def _settled(self, written: int, dropped: int) -> None:
        with self._lock:
            self._done += written + dropped
            self.acknowledged += written
            self.dropped += dropped
            self._settled_cond.notify_all()
