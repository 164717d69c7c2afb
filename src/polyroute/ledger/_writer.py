"""The background writer: a bounded queue drained by one thread that writes rows in batches.

Recording puts a row on the queue and returns; only when the queue is full does it wait for
room (backpressure, so that rows are never silently lost). The writer takes whatever is queued,
up to a batch, writes it in one transaction and commits: from then on those rows are
*acknowledged* (they survive the process being killed). :meth:`flush` waits until every row
recorded so far is acknowledged; :meth:`close` flushes and stops the thread, and runs at
interpreter exit for writers nobody closed.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["BackgroundWriter"]

log = logging.getLogger("polyroute")

T = TypeVar("T")
_STOP = object()
#: pauses between attempts to write a batch the database refused, then the batch is dropped
_RETRY_DELAYS = (0.05, 0.5, 2.0)


class BackgroundWriter(Generic[T]):
    """Writes items in batches on a dedicated thread; see the module docstring."""

    __slots__ = (
        "_cond",
        "_done",
        "_enqueued",
        "_on_exit",
        "_queue",
        "_thread",
        "_write",
        "acknowledged",
        "batch_size",
        "closed",
        "dropped",
        "rejected",
    )

    def __init__(
        self,
        write: Callable[[list[T]], None],
        *,
        queue_size: int = 10_000,
        batch_size: int = 500,
        name: str = "polyroute-ledger",
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self._write = write
        self._on_exit = on_exit
        self.batch_size = batch_size
        self._queue: queue.Queue[object] = queue.Queue(queue_size)
        self._cond = threading.Condition()
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
        if self.closed:
            log.error("polyroute ledger: a row was recorded after the ledger was closed; it is not stored")
            return
        with self._cond:
            self._enqueued += 1
        self._queue.put(item)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every item queued so far is written; ``False`` if ``timeout`` passed first."""
        with self._cond:
            target = self._enqueued
            return self._cond.wait_for(lambda: self._done >= target or not self._thread.is_alive(), timeout)

    @property
    def pending(self) -> int:
        """Items queued and not yet written."""
        return self._enqueued - self._done

    def close(self, timeout: float | None = None) -> None:
        """Write everything queued, then stop the thread."""
        if self.closed:
            return
        self.closed = True
        atexit.unregister(self.close)
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            stop = False
            while not stop:
                item = self._queue.get()
                batch: list[T] = []
                if item is _STOP:
                    stop = True
                else:
                    batch.append(item)  # type: ignore[arg-type]
                while not stop and len(batch) < self.batch_size:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                    else:
                        batch.append(item)  # type: ignore[arg-type]
                if batch:
                    self._commit(batch)
        finally:
            if self._on_exit is not None:
                try:
                    self._on_exit()
                except Exception:
                    log.exception("polyroute ledger: closing the database failed")
            with self._cond:
                self._cond.notify_all()

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
        with self._cond:
            self._done += written + dropped
            self.acknowledged += written
            self.dropped += dropped
            self._cond.notify_all()
