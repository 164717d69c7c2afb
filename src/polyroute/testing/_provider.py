"""One simulated provider: its script (queue + default), its auth and what it received.

A :class:`SimulatedProvider` is shared between the test's thread, which scripts it and reads its
records, and the simulator's server thread, which consumes behaviours and appends records; a lock
guards every access.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence

from polyroute.testing._behaviors import Behavior, Reply
from polyroute.testing._recorded import RecordedRequest
from polyroute.testing._wire import WireFormat

__all__ = ["SimulatedProvider"]


class SimulatedProvider:
    """A named provider served by a :class:`~polyroute.testing.ProviderSimulator`.

    Each request takes the next behaviour from the FIFO queue (:meth:`enqueue`), or the default
    (:meth:`set_default`; initially ``Reply()``) when the queue is empty. Every request to the
    provider's prefix is recorded in :attr:`requests`, including rejected ones (bad key, unknown
    path, unparsable body); those do not consume a behaviour.

    Create providers with :meth:`ProviderSimulator.add_provider
    <polyroute.testing.ProviderSimulator.add_provider>`.
    """

    __slots__ = (
        "_api_key",
        "_default",
        "_errors",
        "_lock",
        "_models",
        "_name",
        "_queue",
        "_requests",
        "_root",
        "_wire",
        "embedding_dimensions",
    )

    def __init__(
        self,
        name: str,
        *,
        wire: WireFormat,
        root_url: Callable[[], str],
        api_key: str | None = None,
        models: Sequence[str] = (),
        embedding_dimensions: int = 16,
    ) -> None:
        self._name = name
        #: the size of the vectors returned when an embeddings request does not ask for one
        self.embedding_dimensions = embedding_dimensions
        self._wire = wire
        self._root = root_url
        self._api_key = api_key
        self._models = tuple(models)
        self._lock = threading.Lock()
        self._queue: deque[Behavior] = deque()
        self._default: Behavior = Reply()
        self._requests: list[RecordedRequest] = []
        self._errors: list[BaseException] = []

    @property
    def name(self) -> str:
        """The provider's name, also its URL prefix."""
        return self._name

    @property
    def api(self) -> str:
        """The wire format it speaks (``"openai"``)."""
        return self._wire.api

    @property
    def api_key(self) -> str | None:
        """The key requests must carry, or ``None`` to accept any request."""
        return self._api_key

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/<name>/v1`` for OpenAI; the simulator must be running."""
        return f"{self._root()}/{self._name}{self._wire.base_path}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised by :class:`~polyroute.testing.FunctionBehavior` callables."""
        with self._lock:
            return list(self._errors)

    @property
    def pending(self) -> int:
        """How many queued behaviours are still waiting for a request."""
        with self._lock:
            return len(self._queue)

    @property
    def models(self) -> list[str]:
        """Models listed by ``GET /v1/models``: those configured, then those requested."""
        with self._lock:
            seen = [r.model for r in self._requests if r.model]
        return list(dict.fromkeys([*self._models, *seen]))

    def set_default(self, behavior: Behavior) -> None:
        """Use ``behavior`` for every request that finds the queue empty."""
        with self._lock:
            self._default = behavior

    def enqueue(self, *behaviors: Behavior) -> None:
        """Append behaviours to the queue; each is used by exactly one request, in order."""
        with self._lock:
            self._queue.extend(behaviors)

    def reset(self) -> None:
        """Empty the queue, restore the default ``Reply()``, forget requests and errors."""
        with self._lock:
            self._queue.clear()
            self._default = Reply()
            self._requests.clear()
            self._errors.clear()

    def __repr__(self) -> str:
        return f"SimulatedProvider(name={self._name!r}, api={self.api!r}, pending={self.pending})"

    # -- server side ---------------------------------------------------------------------------

    @property
    def wire(self) -> WireFormat:
        """The provider's wire format (server side)."""
        return self._wire

    def record(self, request: RecordedRequest) -> None:
        """Append a received request (server side)."""
        with self._lock:
            self._requests.append(request)

    def next_behavior(self) -> Behavior:
        """Pop the next queued behaviour, or return the default (server side)."""
        with self._lock:
            return self._queue.popleft() if self._queue else self._default

    def record_error(self, error: BaseException) -> None:
        """Keep an exception raised while choosing a behaviour (server side)."""
        with self._lock:
            self._errors.append(error)
