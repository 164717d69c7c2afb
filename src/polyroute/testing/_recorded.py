"""What the simulator saw: one :class:`RecordedRequest` per HTTP request a provider received."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Headers", "RecordedRequest"]


class Headers(Mapping[str, str]):
    """Read-only request headers with case-insensitive lookup.

    Keys are stored lower-cased (``dict(headers)`` shows them so); ``headers["Authorization"]`` and
    ``headers["authorization"]`` are the same entry. Repeated headers are joined with ``", "``.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        merged: dict[str, str] = {}
        for name, value in items:
            key = name.lower()
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        self._items = merged

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedRequest:
    """One request as received, before any behaviour ran.

    ``path`` is the full request path including the provider prefix
    (``/groq/v1/chat/completions``); ``json`` is the parsed body when it is a JSON object, else
    ``None``; ``body`` is the raw bytes. ``stream`` and ``model`` are what the provider's wire
    format reads from the request. ``received_at`` is the simulator clock's ``time()`` (Unix
    seconds; the fake time with a :class:`~polyroute.testing.FakeClock`).
    """

    provider: str
    method: str
    path: str
    query: Mapping[str, str]
    headers: Headers
    body: bytes = field(repr=False)
    json: dict[str, Any] | None
    stream: bool
    model: str | None
    received_at: float

    @property
    def prefill(self) -> str | None:
        """The text of the final assistant message when the request ends with one (a prefill or
        continuation request: OpenAI/Anthropic ``messages``, Gemini ``contents`` ending with a
        ``model`` turn), else ``None``."""
        body = self.json or {}
        if self.messages:
            last = self.messages[-1]
            if isinstance(last, dict) and last.get("role") == "assistant":
                return _text(last.get("content"))
            return None
        contents = body.get("contents")
        if isinstance(contents, list) and contents:
            last = contents[-1]
            if isinstance(last, dict) and last.get("role") == "model":
                return _text(last.get("parts"))
        return None

    @property
    def messages(self) -> list[Any]:
        """The request's ``messages`` list (empty when absent)."""
        messages = self.json.get("messages") if self.json is not None else None
        return messages if isinstance(messages, list) else []


def _text(content: Any) -> str:
    """The text of a message's content: a string, or a list of text parts/blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""
