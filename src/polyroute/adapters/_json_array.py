"""An incremental splitter for a streamed JSON array of objects (``[{...}\\n,\\n{...}]``).

Gemini's ``streamGenerateContent`` without ``alt=sse`` sends its chunks this way: one JSON
array, written an element at a time. Bytes in, each complete element's bytes out.
"""

from __future__ import annotations

__all__ = ["JsonArraySplitter"]

_OPEN = frozenset(b"{[")
_CLOSE = frozenset(b"}]")
_QUOTE = 0x22
_BACKSLASH = 0x5C


class JsonArraySplitter:
    """Feed bytes with :meth:`feed`; get the complete top-level elements seen so far."""

    __slots__ = ("_buf", "_depth", "_escape", "_pos", "_start", "_string", "opened")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._start = -1
        self._depth = 0
        self._string = False
        self._escape = False
        #: whether the array's ``[`` has been seen
        self.opened = False

    def feed(self, data: bytes) -> list[bytes]:
        """Elements completed by ``data``."""
        self._buf += data
        buf = self._buf
        out: list[bytes] = []
        i = self._pos
        while i < len(buf):
            c = buf[i]
            if self._string:
                if self._escape:
                    self._escape = False
                elif c == _BACKSLASH:
                    self._escape = True
                elif c == _QUOTE:
                    self._string = False
            elif c == _QUOTE:
                self._string = True
            elif c in _OPEN:
                if not self.opened:
                    self.opened = True
                else:
                    if self._depth == 0:
                        self._start = i
                    self._depth += 1
            elif c in _CLOSE and self._depth > 0:
                self._depth -= 1
                if self._depth == 0:
                    out.append(bytes(buf[self._start : i + 1]))
                    self._start = -1
            i += 1
        # keep only the element in progress
        if self._start >= 0:
            del buf[: self._start]
            i -= self._start
            self._start = 0
        else:
            del buf[:]
            i = 0
        self._pos = i
        return out

    @property
    def pending(self) -> bool:
        """Whether an element was started and not finished."""
        return self._depth > 0
