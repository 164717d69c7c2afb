"""Reading the real provider recordings in ``<shared>/real-traffic`` (never copied into the repo).

The directory comes from ``POLYROUTE_SHARED_DIR`` (default: ``<repo>/../shared``). Three formats:
plain vcrpy YAML; pydantic-ai's serializer, whose JSON bodies are stored parsed under
``parsed_body`` (:class:`PydanticAISerializer` turns those back into vcrpy's shape, for replay and
for reading); and response bodies stored gzip-compressed as ``!!binary``.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SHARED_ENV = "POLYROUTE_SHARED_DIR"
PYDANTIC_AI = "pydantic_ai"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def shared_dir() -> Path:
    """``$POLYROUTE_SHARED_DIR``, else ``<repo>/../shared``."""
    value = os.environ.get(SHARED_ENV)
    return Path(value) if value else REPO.parent / "shared"


def traffic_dir() -> Path | None:
    """``<shared>/real-traffic`` if it is there (with its ``index.json``), else ``None``."""
    path = shared_dir() / "real-traffic"
    return path if (path / "index.json").is_file() else None


def skip_reason() -> str:
    return (
        f"real-traffic recordings not found at {shared_dir() / 'real-traffic'}; "
        f"set {SHARED_ENV} to the directory holding real-traffic/ to run the conformance suite"
    )


@dataclass(frozen=True)
class Exchange:
    """One recorded request and response, bodies as bytes (decompressed), headers lower-cased."""

    method: str
    uri: str
    request_body: Any
    stream: bool
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Recording:
    """One recorded file, as ``index.json`` describes it."""

    file: str
    provider: str
    format: str
    is_error_case: bool
    description: str
    streams: tuple[bool, ...]

    @property
    def path(self) -> Path:
        root = traffic_dir()
        assert root is not None
        return root / self.file

    @property
    def pydantic_ai(self) -> bool:
        return "pydantic-ai" in self.format

    def exchanges(self) -> list[Exchange]:
        data = yaml.load(self.path.read_text(encoding="utf-8"), Loader=_Loader)
        if self.pydantic_ai:
            data = from_pydantic_ai(data)
        out = []
        for meta_stream, item in zip(self.streams, data["interactions"], strict=True):
            req, resp = item["request"], item["response"]
            headers = {k.lower(): (v[0] if isinstance(v, list) else v) for k, v in (resp.get("headers") or {}).items()}
            body = resp["body"]["string"]
            body = body.encode() if isinstance(body, str) else body
            if headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            raw_request = req.get("body")
            try:
                request_body = json.loads(raw_request) if raw_request else None
            except (TypeError, ValueError):
                request_body = None
            out.append(
                Exchange(
                    method=req["method"],
                    uri=req["uri"],
                    request_body=request_body,
                    stream=meta_stream,
                    status=resp["status"]["code"],
                    headers=headers,
                    body=body,
                )
            )
        return out


def recordings() -> list[Recording]:
    """Every recording ``index.json`` lists, in its order (empty if the directory is absent)."""
    root = traffic_dir()
    if root is None:
        return []
    index = json.loads((root / "index.json").read_text(encoding="utf-8"))
    return [
        Recording(
            file=entry["file"],
            provider=entry["provider"],
            format=entry["format"],
            is_error_case=entry["is_error_case"],
            description=entry["description"],
            streams=tuple(bool(i["request_stream"]) for i in entry["interactions"]),
        )
        for entry in index
    ]


def _drop_headers(headers: dict[str, Any], names: set[str]) -> dict[str, Any]:
    return {k: v for k, v in headers.items() if k.lower() not in names}


def from_pydantic_ai(data: dict[str, Any]) -> dict[str, Any]:
    """pydantic-ai's cassette data in vcrpy's shape: ``parsed_body`` serialised back to a body string.

    The length and encoding headers described the original bytes, not ``json.dumps`` of the parsed
    body, so they are dropped.
    """
    interactions = []
    for item in data["interactions"]:
        request = dict(item["request"])
        if "parsed_body" in request:
            request["body"] = json.dumps(request.pop("parsed_body"))
        request.setdefault("body", None)
        response = dict(item["response"])
        if "parsed_body" in response:
            response["body"] = {"string": json.dumps(response.pop("parsed_body"))}
            response["headers"] = _drop_headers(response.get("headers") or {}, {"content-length", "content-encoding"})
        interactions.append({"request": request, "response": response})
    return {"interactions": interactions, "version": data.get("version", 1)}


class PydanticAISerializer:
    """A vcrpy serializer for pydantic-ai's cassette format (read-only)."""

    @staticmethod
    def deserialize(cassette_string: str) -> dict[str, Any]:
        return from_pydantic_ai(yaml.load(cassette_string, Loader=_Loader))

    @staticmethod
    def serialize(cassette_dict: dict[str, Any]) -> str:
        raise NotImplementedError("real-traffic recordings are read-only")
