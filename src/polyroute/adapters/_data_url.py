"""Content parts that carry files: ``data:`` URLs split into media type and base64 data."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass

__all__ = ["InlineData", "guess_media_type", "parse_data_url"]


@dataclass(frozen=True, slots=True)
class InlineData:
    """A ``data:<media type>;base64,<data>`` URL, taken apart."""

    media_type: str
    data: str


def parse_data_url(url: str) -> InlineData | None:
    """The media type and base64 data of a base64 ``data:`` URL; ``None`` for any other URL."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    media_type = header[: -len(";base64")] or "application/octet-stream"
    return InlineData(media_type, data)


def guess_media_type(url: str, default: str = "image/jpeg") -> str:
    """The media type a URL's file extension suggests, else ``default``."""
    guessed, _ = mimetypes.guess_type(url.split("?", 1)[0])
    return guessed or default
