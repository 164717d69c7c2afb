"""An incremental Server-Sent Events parser: bytes in, ``(event, data)`` pairs out.

Survives what real providers send: ``\\r\\n`` and ``\\n`` line ends, comment lines
(``: OPENROUTER PROCESSING``), ``event:`` lines (Groq's ``event: error``), multi-line ``data``,
and frames split anywhere across network reads.
"""

from __future__ import annotations

__all__ = ["SSEParser"]


class SSEParser:
    """Feed bytes with :meth:`feed`; each call returns the complete events seen so far."""

    __slots__ = ("_buf", "_data", "_event", "_parts")

    def __init__(self) -> None:
        self._buf = b""
        #: pieces of a line still without its end, joined once the end arrives (linear time)
        self._parts: list[bytes] = []
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        """Parse ``chunk``; return ``(event name or None, data)`` for each event it completed."""
        if self._buf or self._data or self._event is not None or b"\r" in chunk:
            return self._feed_lines(chunk)
        if b"\n" not in chunk:  # the start of a line that continues in later reads
            if chunk:
                self._buf = chunk
            return []
        # Fast path for the common shape: whole ``data: ...`` frames separated by blank lines.
        frames = chunk.split(b"\n\n")
        tail = frames.pop()
        out: list[tuple[str | None, bytes]] = []
        for frame in frames:
            if frame.startswith(b"data: ") and b"\n" not in frame:
                out.append((None, frame[6:]))
            elif frame:
                out.extend(self._feed_lines(frame + b"\n\n"))
        if tail:
            out.extend(self._feed_lines(tail))
        return out

    def _feed_lines(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        if self._buf and b"\n" not in chunk:
            # still inside one line: keep the pieces, join them once (never buf + chunk per read)
            self._parts.append(chunk)
            return []
        if self._parts:
            buf = b"".join([self._buf, *self._parts, chunk])
            self._parts = []
        else:
            buf = self._buf + chunk if self._buf else chunk
        out: list[tuple[str | None, bytes]] = []
        start = 0
        find = buf.find
        while True:
            nl = find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    out.append((self._event, b"\n".join(self._data)))
                    self._data = []
                self._event = None
                continue
            if line.startswith(b"data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(b" ") else value)
            elif line[0] == 58:  # b":" comment
                continue
            elif line.startswith(b"event:"):
                self._event = line[6:].strip().decode("utf-8", "replace")
            # id:, retry: and unknown fields are ignored
        self._buf = buf[start:]
        return out

    def flush(self) -> list[tuple[str | None, bytes]]:
        """Events left when the stream ended without a final blank line."""
        out: list[tuple[str | None, bytes]] = []
        if self._buf or self._parts:
            out = self.feed(b"\n")
        if self._data:
            out.append((self._event, b"\n".join(self._data)))
            self._data = []
        return out

    @property
    def pending(self) -> bool:
        """Whether unparsed bytes remain."""
        return bool(self._buf or self._parts or self._data)
