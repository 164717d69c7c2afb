"""The embedding decoders against real provider recordings (``real-traffic/embeddings-index.json``).

Each recorded exchange is replayed to a router through a transport that answers with the
recorded response: the vectors polyroute returns must be the recorded ones (floats, or base64
float32 decoded independently here), one per input, in order, with the recorded usage; recorded
errors must come back as the right error class. Runs only with ``POLYROUTE_SHARED_DIR`` set.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from tests.conformance._recordings import Exchange, Recording, skip_reason, traffic_dir

import polyroute
from polyroute import errors
from polyroute.catalog._catalog import Timeouts
from polyroute.transports._base import HttpRequest, HttpResponse


def _recordings() -> list[Recording]:
    root = traffic_dir()
    if root is None:
        return []
    index = json.loads((root / "embeddings-index.json").read_text(encoding="utf-8"))
    return [
        Recording(
            file=e["file"],
            provider=e["provider"],
            format=e["format"],
            is_error_case=e["is_error_case"],
            description=e["description"],
            streams=tuple(bool(i["request_stream"]) for i in e["interactions"]),
        )
        for e in index
        if e["format"].startswith("vcrpy")  # the one Ruby VCR file holds the same shape as llm-gemini's
    ]


RECORDINGS = _recordings()
pytestmark = pytest.mark.skipif(traffic_dir() is None, reason=skip_reason())


class _Replay:
    """A transport answering every request with one recorded response."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.sent: list[HttpRequest] = []

    def send(self, request: HttpRequest, timeouts: Timeouts) -> HttpResponse:
        self.sent.append(request)
        return HttpResponse(self.exchange.status, self.exchange.headers, self.exchange.body)

    def close(self) -> None:
        pass


def _texts_and_dims(api: str, body: Any) -> tuple[list[str], int | None, str | None]:
    if api == "gemini":
        items = body.get("requests") if "requests" in body else [body]
        texts = ["".join(p.get("text", "") for p in item["content"]["parts"]) for item in items]
        return texts, items[0].get("outputDimensionality"), None
    raw = body["input"]
    texts = [raw] if isinstance(raw, str) else [t if isinstance(t, str) else json.dumps(t) for t in raw]
    return texts, body.get("dimensions"), body.get("encoding_format")


def _expected_vectors(api: str, body: bytes) -> list[list[float]]:
    data = json.loads(body)
    if api == "gemini":
        return [e["values"] for e in data["embeddings"]] if "embeddings" in data else [data["embedding"]["values"]]
    out = []
    for item in sorted(data["data"], key=lambda d: d["index"]):
        vector = item["embedding"]
        if isinstance(vector, str):
            raw = base64.b64decode(vector)
            vector = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        out.append(vector)
    return out


def _expected_tokens(api: str, body: bytes) -> int | None:
    data = json.loads(body)
    if api == "gemini":
        meta = data.get("usageMetadata") or {}
        return meta.get("promptTokenCount")
    usage = data.get("usage") or {}
    return usage.get("prompt_tokens", usage.get("total_tokens"))


@pytest.mark.parametrize("recording", RECORDINGS, ids=[r.file for r in RECORDINGS])
def test_recorded_embeddings_decode(recording: Recording) -> None:
    api = "gemini" if recording.provider == "gemini" else "openai"
    for exchange in recording.exchanges():
        body = exchange.request_body if isinstance(exchange.request_body, dict) else {}
        if api == "gemini":
            model = unquote(urlsplit(exchange.uri).path).rsplit("/models/", 1)[1].split(":", 1)[0]
        else:
            model = str(body.get("model") or "recorded")
        texts, dims, encoding = _texts_and_dims(api, body) if body else (["x"], None, None)
        replay = _Replay(exchange)
        config = {
            "providers": {"p": {"api": api, "base_url": "https://replay.invalid/v1"}},
            "models": {"emb": {"kind": "embedding", "endpoints": [{"provider": "p", "model": model}]}},
            "router": {"retry": {"max_retries": 0}},
        }
        with polyroute.Router(
            polyroute.Router.from_config(config).catalog, sync_transport=lambda _p, r=replay: r
        ) as router:
            if exchange.status >= 300:
                with pytest.raises(errors.PolyrouteError) as info:
                    router.embedding("emb", texts, dimensions=dims)
                raised = info.value  # a 400 is final; a 404 moves on, and nothing is left
                error = raised.errors[-1] if isinstance(raised, errors.NoEndpointAvailable) else raised
                expected = errors.ModelNotFound if exchange.status == 404 else errors.BadRequest
                assert isinstance(error, expected), (recording.file, error)
                assert error.status == exchange.status
                continue
            resp = router.embedding("emb", texts, dimensions=dims, encoding_format=encoding)
        vectors = _expected_vectors(api, exchange.body)
        got = resp.vectors
        assert len(got) == len(texts) == len(vectors)
        assert all(g == pytest.approx(v) for g, v in zip(got, vectors, strict=True))
        if dims is not None:
            assert {len(v) for v in got} == {dims}
        tokens = _expected_tokens(api, exchange.body)
        assert resp.usage is not None
        if tokens is None:
            assert resp.usage.estimated and resp.usage.prompt_tokens > 0
        else:
            assert (resp.usage.prompt_tokens, resp.usage.estimated) == (tokens, False)
        sent = json.loads(replay.sent[0].body)
        if api == "openai":
            assert sent["input"] == texts and sent["model"] == model
