"""Sticky routing for prompt caching: a conversation keeps going to the endpoint that served it.

Providers cache the prompt prefix they have seen; moving a conversation to another provider
throws that cache away (and its discount). A conversation is identified by ``session_id`` when
the caller gives one, else by its opening (the leading system messages plus the first other
message). After a success, the conversation's model remembers the endpoint that served it; for
``sticky_window`` seconds after its last use, planning moves that endpoint to the front while it
stays healthy (circuit closed, no recent outage).

As on OpenRouter, stickiness by conversation opening applies only where it pays: endpoints with a
``cache_read`` price below their prompt price; an explicit ``session_id`` always applies; and an
explicit ``provider.order`` wins over it. In-process, bounded (least recently used entries go
first), thread-safe. A shared state backend also stores each conversation under a stable digest
(:func:`conversation_digest`: the same in every process), told through ``listener``, and fetches
the ones this process has not seen before planning.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from polyroute._request import ChatRequest
from polyroute._types import Route
from polyroute.errors import PolyrouteError

__all__ = ["StickySessions", "conversation_digest", "conversation_key"]

#: told ``(model, request, endpoint_key)`` when a conversation is remembered; must not block
StickyListener = Callable[[str, ChatRequest, str], None]

Key = tuple[str, int]  # ("session" | "opening", hash)


def _content_key(content: Any) -> Any:
    if isinstance(content, str) or content is None:
        return content
    return repr(content)


def conversation_key(request: ChatRequest) -> Key | None:
    """What identifies the request's conversation: its ``session_id``, else its opening messages."""
    if request.session_id:
        return ("session", hash(request.session_id))
    return _opening_key(request.messages)


def _opening(messages: Sequence[Mapping[str, Any]]) -> tuple[Any, ...]:
    parts: list[Any] = []
    for m in messages:
        role = m.get("role")
        parts.append((role, _content_key(m.get("content"))))
        if role not in ("system", "developer"):
            break
    return tuple(parts)


def _opening_key(messages: Sequence[Mapping[str, Any]]) -> Key | None:
    parts = _opening(messages)
    if not parts:
        return None
    return ("opening", hash(parts))


def conversation_digest(request: ChatRequest) -> str | None:
    """A digest of :func:`conversation_key`'s identity that every process computes alike
    (``hash()`` differs between processes): what a shared backend stores conversations under."""
    if request.session_id:
        data = "session:" + request.session_id
    else:
        parts = _opening(request.messages)
        if not parts:
            return None
        data = "opening:" + repr(parts)
    return hashlib.blake2b(data.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


class StickySessions:
    """Which endpoint served each conversation, per model, for ``window`` seconds after last use.

    A :class:`~polyroute.CallObserver`: a successful call records its endpoint when the call
    had a ``session_id`` or the endpoint is one of ``cached`` (keys of endpoints with a
    prompt-cache discount).
    """

    def __init__(
        self,
        *,
        window: float,
        now: Callable[[], float],
        cached: frozenset[str] = frozenset(),
        max_entries: int = 100_000,
    ) -> None:
        self.window = window
        self._now = now
        self._cached = cached
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, Key], tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()
        #: told about every conversation remembered (a shared state backend stores it)
        self.listener: StickyListener | None = None

    @property
    def enabled(self) -> bool:
        """Whether sticky routing is on (a positive window)."""
        return self.window > 0

    def configure(self, *, window: float, cached: frozenset[str]) -> None:
        """New settings (a router reload); the conversations remembered so far are kept."""
        self.window = window
        self._cached = cached

    def lookup(self, model: str, key: Key, now: float) -> tuple[str, float] | None:
        """The endpoint key that served this conversation of ``model`` and when, if still fresh."""
        entry = self._entries.get((model, key))
        if entry is None or now - entry[1] > self.window:
            return None
        return entry

    def remember(self, model: str, key: Key, endpoint_key: str, now: float) -> None:
        """Record that ``endpoint_key`` served the conversation at ``now``."""
        with self._lock:
            k = (model, key)
            self._entries[k] = (endpoint_key, now)
            self._entries.move_to_end(k)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    # -- observer hooks ------------------------------------------------------------------------

    def on_attempt(self, request: ChatRequest, request_id: str, attempt: object) -> None:
        """Stickiness is recorded per call, not per attempt."""

    def on_call(self, request: ChatRequest, route: Route | None, error: PolyrouteError | None) -> None:
        """A call succeeded: remember who served its conversation."""
        if route is None or not self.enabled:
            return
        endpoint_key = f"{route.provider}/{route.endpoint_model}"
        if not request.session_id and endpoint_key not in self._cached:
            return
        key = conversation_key(request)
        if key is not None:
            self.remember(route.model, key, endpoint_key, self._now())
            listener = self.listener
            if listener is not None:
                listener(route.model, request, endpoint_key)
