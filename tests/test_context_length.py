"""Context-length errors (fault matrix scenario 12): classified from structured fields first,
then wording, and routed to an endpoint with a larger declared context.

The table holds the over-long-prompt errors providers document (status, body); each is served
by the simulator and must reach the larger-context endpoint. Real recordings in
``$POLYROUTE_SHARED_DIR/real-traffic`` are checked too (skipped when it is unset).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import USER, RouterFactory, endpoint

from polyroute import errors
from polyroute.testing import ErrorReply, ProviderSimulator

#: (provider, status, error body) as each provider documents or returns it
PHRASINGS: list[tuple[str, int, dict[str, Any]]] = [
    (
        "openai",
        400,
        {
            "error": {
                "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in "
                "130532 tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    ),
    (
        "openai-newer",
        400,
        {
            "error": {
                "message": "Input tokens exceed the configured limit of 272000 tokens. Your messages resulted in "
                "300123 tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": None,
            }
        },
    ),
    (
        "anthropic",
        400,
        {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": "prompt is too long: 208310 tokens > 200000 maximum"},
        },
    ),
    (
        "anthropic-max-tokens",
        400,
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "input length and `max_tokens` exceed context limit: 199211 + 21333 > 200000, decrease "
                "input length or `max_tokens` and try again",
            },
        },
    ),
    (
        "gemini",
        400,
        {
            "error": {
                "code": 400,
                "message": "The input token count (1196265) exceeds the maximum number of tokens allowed (1048575).",
                "status": "INVALID_ARGUMENT",
            }
        },
    ),
    (
        "groq",
        400,
        {
            "error": {
                "message": "Please reduce the length of the messages or completion.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    ),
    (
        "mistral",
        400,
        {
            "object": "error",
            "message": "Prompt contains 40321 tokens and 0 draft tokens, too large for model with 32768 maximum "
            "context length",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        },
    ),
    (
        "deepseek",
        400,
        {
            "error": {
                "message": "This model's maximum context length is 65536 tokens. However, you requested 70012 tokens "
                "(66012 in the messages, 4000 in the completion). Please reduce the length of the messages or "
                "completion.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_request_error",
            }
        },
    ),
    (
        "together",
        400,
        {
            "error": {
                "message": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8193. Given: 8000 "
                "`inputs` tokens and 512 `max_new_tokens`",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
    ),
    (
        "fireworks",
        400,
        {
            "error": {
                "object": "error",
                "type": "invalid_request_error",
                "message": "The prompt is too long: 40000, model maximum context length: 32768",
            }
        },
    ),
    (
        "vllm",
        400,
        {
            "object": "error",
            "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
            "(4000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
    ),
    (
        "vllm-newer",
        400,
        {
            "error": {
                "message": "The decoder prompt (length 5000) is longer than the maximum model length of 4096. Make "
                "sure that `max_model_len` is no smaller than the number of text tokens.",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            }
        },
    ),
    (
        "ollama",
        400,
        {"error": {"message": "the input length exceeds the context length", "type": "invalid_request_error"}},
    ),
    (
        "llama.cpp",
        400,
        {
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
            }
        },
    ),
    (
        "openrouter",
        400,
        {
            "error": {
                "message": "This endpoint's maximum context length is 131072 tokens. However, you requested about "
                "150034 tokens (146034 of text input, 4000 in the output). Please reduce the length of either one, "
                'or use the "middle-out" transform to compress your prompt automatically.',
                "code": 400,
                "metadata": {"provider_name": None},
            }
        },
    ),
    (
        "cohere",
        400,
        {
            "message": "too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 5000. "
            "Try using a shorter prompt, or enabling prompt truncating."
        },
    ),
    (
        "xai",
        400,
        {
            "code": "Client specified an invalid argument",
            "error": "This model's maximum prompt length is 131072 but the request contains 150000 tokens.",
        },
    ),
    (
        "bedrock-via-gateway",
        400,
        {"error": {"message": "Input is too long for requested model.", "type": "ValidationException"}},
    ),
    (
        # unknown wording and code: only "tokens" in it. Tried on a larger context, nothing else.
        "unknown-wording",
        400,
        {"error": {"message": "Request has 9500 tokens; this deployment serves 8192.", "type": "invalid_request"}},
    ),
]


def _router(make_router: RouterFactory) -> Any:
    eps = [endpoint("a", context_length=8192), endpoint("b", context_length=8192), endpoint("c", context_length=200000)]
    return make_router({"m": eps})


@pytest.mark.parametrize(("status", "body"), [(s, b) for _, s, b in PHRASINGS], ids=[p for p, _, _ in PHRASINGS])
def test_each_documented_phrasing_goes_to_a_larger_context(
    sim: ProviderSimulator, make_router: RouterFactory, status: int, body: dict[str, Any]
) -> None:
    router = _router(make_router)
    sim.provider("a").set_default(ErrorReply(status, body=body))
    resp = router.completion(model="m", messages=USER)
    assert resp.route is not None and resp.route.provider == "c"
    assert sim.provider("b").requests == []  # no larger than a: skipped
    assert resp.route.attempts[0].error in ("ContextLengthExceeded", "BadRequest")


def test_wording_about_tokens_fails_fast_when_no_larger_context_is_left(
    sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    router = make_router({"m": [endpoint("a", context_length=8192), endpoint("b", context_length=8192)]})
    body = {"error": {"message": "Request has 9500 tokens; this deployment serves 8192.", "type": "invalid_request"}}
    sim.provider("a").set_default(ErrorReply(400, body=body))
    with pytest.raises(errors.BadRequest, match="9500 tokens"):
        router.completion(model="m", messages=USER)
    assert sim.provider("b").requests == []


def test_other_400s_are_not_taken_for_context_errors(sim: ProviderSimulator, make_router: RouterFactory) -> None:
    router = _router(make_router)
    sim.provider("a").set_default(ErrorReply(400, message="temperature must be <= 2", type="invalid_request_error"))
    with pytest.raises(errors.BadRequest):
        router.completion(model="m", messages=USER)
    assert sim.provider("c").requests == []


# -- real recordings ---------------------------------------------------------------------------


def _traffic() -> Path | None:
    root = os.environ.get("POLYROUTE_SHARED_DIR")
    if not root:
        return None
    path = Path(root) / "real-traffic"
    return path if (path / "index.json").is_file() else None


def _recorded_errors() -> list[tuple[str, int, bytes]]:
    """Every recorded 4xx body, and every error object inside a recorded 200 stream."""
    from tests.conformance._recordings import recordings

    out = []
    for rec in recordings():
        if not rec.is_error_case:
            continue
        for ex in rec.exchanges():
            if ex.status >= 400:
                out.append((rec.file, ex.status, ex.body))
            elif ex.stream:
                for line in ex.body.decode("utf-8", "replace").splitlines():
                    data = line.removeprefix("data:").strip()
                    if data.startswith("{") and '"error"' in data:
                        obj = json.loads(data)
                        status = obj["error"].get("code") if isinstance(obj.get("error"), dict) else None
                        out.append((rec.file, status if isinstance(status, int) else 400, json.dumps(obj).encode()))
    return out


def _is_length_error(body: bytes) -> bool:
    text = body.decode("utf-8", "replace").lower()
    return any(w in text for w in ("token", "context", "too long", "length"))


@pytest.mark.skipif(_traffic() is None, reason="set POLYROUTE_SHARED_DIR to the directory holding real-traffic/")
def test_every_recorded_length_error_goes_to_a_larger_context_and_no_other(
    sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    cases = _recorded_errors()
    length = [c for c in cases if c[1] in (400, 413, 422) and _is_length_error(c[2])]
    assert length, "expected at least one recorded length/token 400"
    for file, status, body in cases:
        sim.reset()
        router = _router(make_router)
        sim.provider("a").set_default(ErrorReply(status, body=body))
        try:
            resp = router.completion(model="m", messages=USER)
        except errors.PolyrouteError:
            went_larger = False
        else:
            went_larger = resp.route is not None and resp.route.provider == "c" and sim.provider("b").requests == []
        expected = (file, status, body) in length
        assert went_larger == expected or status in (401, 404, 429), file
