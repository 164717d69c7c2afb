"""polyroute's errors become LiteLLM's exception types: mapped by type, and end to end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import litellm
import litellm_polyroute
import pytest
from litellm import exceptions as lx

import polyroute
from polyroute import errors as pe
from polyroute.testing import Behavior, Disconnect, ErrorReply, ProviderSimulator, Reply

MESSAGES = [{"role": "user", "content": "hi"}]

MAPPED: list[tuple[pe.PolyrouteError, type[Exception], int]] = [
    (pe.InvalidRequest("must be a list", param="messages"), lx.BadRequestError, 400),
    (pe.BadRequest("unsupported parameter", status=400), lx.BadRequestError, 400),
    (pe.ContextLengthExceeded("too long", status=400), lx.ContextWindowExceededError, 400),
    (pe.ContentFiltered("refused", status=400), lx.ContentPolicyViolationError, 400),
    (pe.AuthenticationError("bad key", status=401), lx.AuthenticationError, 401),
    (pe.AuthenticationError("no access", status=403), lx.PermissionDeniedError, 403),
    (pe.ModelNotFound("no such model", status=404), lx.NotFoundError, 404),
    (pe.RateLimited("slow down", status=429), lx.RateLimitError, 429),
    (pe.QuotaExceeded("out of credit", status=429), lx.RateLimitError, 429),
    (pe.BudgetExceeded("project over budget", scope="project:x"), lx.PaymentRequiredError, 402),
    (pe.ReadTimeout("read timed out"), lx.Timeout, 408),
    (pe.FirstTokenTimeout("no content"), lx.Timeout, 408),
    (pe.DeadlineExceeded("deadline passed"), lx.Timeout, 408),
    (pe.ConnectError("refused"), lx.APIConnectionError, 500),
    (pe.ConnectionLost("reset"), lx.APIConnectionError, 500),
    (pe.IncompleteStream("no [DONE]"), lx.APIConnectionError, 500),
    (pe.ServerError("overloaded", status=503), lx.ServiceUnavailableError, 503),
    (pe.ServerError("overloaded", status=529), lx.ServiceUnavailableError, 503),
    (pe.ServerError("boom", status=500), lx.InternalServerError, 500),
    (pe.MalformedResponse("not json", status=200), lx.InternalServerError, 500),
    (pe.ConfigError("no router"), lx.InternalServerError, 500),
]


@pytest.mark.parametrize(("error", "expected", "status"), MAPPED, ids=[f"{type(e).__name__}-{s}" for e, _, s in MAPPED])
def test_each_polyroute_error_maps_to_its_litellm_exception(
    error: pe.PolyrouteError, expected: type[Exception], status: int
) -> None:
    mapped = litellm_polyroute.to_litellm_error(error, model="llama", llm_provider="polyroute")

    assert type(mapped) is expected
    assert getattr(mapped, "status_code", None) == status
    assert str(error) in str(mapped)


def test_mapped_errors_name_the_model_and_provider() -> None:
    mapped = litellm_polyroute.to_litellm_error(pe.RateLimited("slow"), model="llama", llm_provider="pr")

    assert isinstance(mapped, lx.RateLimitError)
    assert (mapped.model, mapped.llm_provider) == ("llama", "pr")


def test_retry_after_is_kept_for_litellm_backoff() -> None:
    mapped = litellm_polyroute.to_litellm_error(pe.RateLimited("slow", status=429, retry_after=7.0), model="m")

    assert isinstance(mapped, lx.RateLimitError)
    assert mapped.response.headers["retry-after"] == "7"


def test_no_endpoint_available_maps_by_its_last_error_and_keeps_the_whole_story() -> None:
    error = pe.NoEndpointAvailable(
        "every endpoint failed: a/x: ServerError; b/y: RateLimited",
        errors=[pe.ServerError("boom", status=500), pe.RateLimited("slow", status=429)],
    )

    mapped = litellm_polyroute.to_litellm_error(error, model="m")

    assert isinstance(mapped, lx.RateLimitError)
    assert "a/x: ServerError; b/y: RateLimited" in str(mapped)


def test_no_endpoint_available_without_attempts_is_service_unavailable() -> None:
    mapped = litellm_polyroute.to_litellm_error(pe.NoEndpointAvailable("every circuit is open"), model="m")

    assert isinstance(mapped, lx.ServiceUnavailableError)


def test_stream_interrupted_maps_by_the_error_that_ended_the_stream() -> None:
    error = pe.StreamInterrupted(pe.ConnectionLost("reset"), delivered_text="Par", delivered_chunks=1)

    mapped = litellm_polyroute.to_litellm_error(error, model="m")

    assert isinstance(mapped, lx.APIConnectionError)
    assert "stream interrupted after 1 chunks" in str(mapped)


# -- end to end through litellm.completion ---------------------------------------------------------


@pytest.fixture
def flaky(sim: ProviderSimulator, config_factory: Callable[..., dict[str, Any]]) -> Iterator[Callable[[Behavior], Any]]:
    """Registers a router whose model ``m`` has one endpoint, scripted by the returned function."""
    provider = sim.add_provider("flaky")
    with polyroute.Router.from_config(config_factory([provider], {"m": ["flaky"]})) as router:
        litellm_polyroute.register(router)

        def script(behavior: Behavior) -> Any:
            provider.set_default(behavior)
            return provider

        yield script


E2E: list[tuple[Behavior, type[Exception]]] = [
    (ErrorReply(429), lx.RateLimitError),
    (ErrorReply(401), lx.AuthenticationError),
    (ErrorReply(400), lx.BadRequestError),
    (ErrorReply.context_length_exceeded(), lx.ContextWindowExceededError),
    (ErrorReply(404), lx.NotFoundError),
    (ErrorReply(503), lx.ServiceUnavailableError),
    (ErrorReply(500), lx.InternalServerError),
    (ErrorReply.insufficient_quota(), lx.RateLimitError),
]


@pytest.mark.parametrize(("behavior", "expected"), E2E, ids=[e.__name__ for _, e in E2E])
def test_completion_raises_the_litellm_exception(
    flaky: Callable[[Behavior], Any], behavior: Behavior, expected: type[Exception]
) -> None:
    flaky(behavior)

    with pytest.raises(expected) as info:
        litellm.completion(model="polyroute/m", messages=MESSAGES)

    assert type(info.value) is expected
    cause = info.value.__cause__
    assert isinstance(cause, pe.PolyrouteError)
    assert [a.provider for a in cause.attempts] == ["flaky"]


def test_a_stream_failing_before_its_first_chunk_raises_the_mapped_error_from_litellm(
    flaky: Callable[[Behavior], Any],
) -> None:
    flaky(ErrorReply(429))

    stream = litellm.completion(model="polyroute/m", messages=MESSAGES, stream=True)
    with pytest.raises(lx.MidStreamFallbackError) as info:
        list(stream)

    assert info.value.is_pre_first_chunk
    assert isinstance(info.value.original_exception, lx.RateLimitError)


def test_a_stream_dropped_mid_way_raises_after_the_delivered_text(flaky: Callable[[Behavior], Any]) -> None:
    flaky(Disconnect(after_chunks=2, reply=Reply(text="abcdefghijklmnopqrstuvwxyz", chunk_size=3)))

    delivered: list[str] = []
    with pytest.raises(lx.MidStreamFallbackError) as info:
        for chunk in litellm.completion(model="polyroute/m", messages=MESSAGES, stream=True):
            delivered.append(chunk.choices[0].delta.content or "")

    assert "".join(delivered) == "abcdef"
    assert not info.value.is_pre_first_chunk
    assert isinstance(info.value.original_exception, lx.APIConnectionError)


def test_a_missing_router_config_is_a_server_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(litellm_polyroute.CONFIG_ENV, raising=False)
    litellm.custom_provider_map = [{"provider": "unconfigured", "custom_handler": litellm_polyroute.PolyrouteLLM()}]

    with pytest.raises(lx.InternalServerError, match="POLYROUTE_CONFIG"):
        litellm.completion(model="unconfigured/m", messages=MESSAGES)
