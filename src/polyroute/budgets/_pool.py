"""A small bounded pool of database connections shared by a store's threads."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

__all__ = ["ConnectionPool"]

C = TypeVar("C")


class ConnectionPool(Generic[C]):
    """At most ``size`` connections made by ``connect``; a caller waits when all are in use.

    A connection whose use raised is closed with ``discard`` and replaced on demand.
    """

    def __init__(self, connect: Callable[[], C], discard: Callable[[C], None], *, size: int = 8) -> None:
        self._connect = connect
        self._discard = discard
        self._idle: queue.LifoQueue[C] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._all: list[C] = []
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[C]:
        """A connection for the duration of the ``with`` block."""
        self._slots.acquire()
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
                with self._lock:
                    self._all.append(conn)
            try:
                yield conn
            except BaseException:
                with self._lock:
                    if conn in self._all:
                        self._all.remove(conn)
                self._discard(conn)
                raise
            self._idle.put(conn)
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            self._discard(conn)
        while True:
            try:
                self._idle.get_nowait()
            except queue.Empty:
                break
