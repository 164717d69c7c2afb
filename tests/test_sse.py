"""The SSE parser survives whatever framing real providers and networks produce."""

from __future__ import annotations

import random

import pytest

from polyroute.adapters._sse import SSEParser

STREAM = (
    b": OPENROUTER PROCESSING\n\n"
    b'data: {"a": 1}\n\n'
    b'event: error\ndata: {"e": 2}\n\n'
    b'data: {"multi":\ndata:  "line"}\n\n'
    b"id: 7\nretry: 10\ndata: plain\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    (None, b'{"a": 1}'),
    ("error", b'{"e": 2}'),
    (None, b'{"multi":\n "line"}'),
    (None, b"plain"),
    (None, b"[DONE]"),
]


def _parse(pieces: list[bytes]) -> list[tuple[str | None, bytes]]:
    parser = SSEParser()
    out = []
    for piece in pieces:
        out.extend(parser.feed(piece))
    out.extend(parser.flush())
    return out


def test_whole_stream() -> None:
    assert _parse([STREAM]) == EXPECTED


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
@pytest.mark.parametrize("seed", range(20))
def test_any_split_and_line_ending(newline: bytes, seed: int) -> None:
    data = STREAM.replace(b"\n", newline)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), k=rng.randint(1, 25)))
    pieces = [data[i:j] for i, j in zip([0, *cuts], [*cuts, len(data)])]
    assert _parse(pieces) == EXPECTED


def test_byte_by_byte() -> None:
    assert _parse([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_unterminated_last_event_is_flushed() -> None:
    assert _parse([b'data: {"x": 1}']) == [(None, b'{"x": 1}')]
