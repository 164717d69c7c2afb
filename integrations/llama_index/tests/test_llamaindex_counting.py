"""Every LlamaIndex entry point is one LLM event and one token count, with the provider's exact usage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatStartEvent,
    LLMCompletionEndEvent,
    LLMCompletionStartEvent,
)
from llama_index.core.llms import ChatMessage
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from llama_index_instrumentation import get_dispatcher  # llama_index.core re-exports it untyped
from llama_index_instrumentation.events.span import SpanDropEvent  # llama_index.core re-exports it untyped
from polyroute import Router
from polyroute.errors import NoEndpointAvailable
from polyroute.testing import ErrorReply, Reply, SimulatedProvider, ToolCallSpec
from pydantic import BaseModel, Field

from llama_index.llms.polyroute import Polyroute

USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
MESSAGES = [ChatMessage(role="user", content="Capital of France?")]


class Recorder(BaseEventHandler):
    events: list[BaseEvent] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "Recorder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(event)

    def count(self, kind: type[BaseEvent]) -> int:
        return sum(1 for e in self.events if isinstance(e, kind))


class City(BaseModel):
    """A city."""

    name: str


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    dispatcher = get_dispatcher()
    handler = Recorder()
    dispatcher.add_event_handler(handler)
    yield handler
    dispatcher.event_handlers.remove(handler)


@pytest.fixture
def tokens() -> TokenCountingHandler:
    return TokenCountingHandler()


def _scripted(provider: SimulatedProvider, tool: str | None = None, args: dict[str, Any] | None = None) -> None:
    if tool is None:
        provider.set_default(Reply(text="Paris is the capital.", usage=USAGE, chunk_size=5))
    else:
        provider.set_default(Reply(tool_calls=[ToolCallSpec(name=tool, arguments=args or {})], usage=USAGE))


def _drain(value: Any) -> Any:
    return list(value) if hasattr(value, "__next__") else value


SYNC: dict[str, tuple[str, Callable[[Polyroute], Any]]] = {
    "chat": ("chat", lambda llm: llm.chat(MESSAGES)),
    "complete": ("completion", lambda llm: llm.complete("Capital of France?")),
    "stream_chat": ("chat", lambda llm: _drain(llm.stream_chat(MESSAGES))),
    "stream_complete": ("completion", lambda llm: _drain(llm.stream_complete("Capital of France?"))),
    "predict": ("chat", lambda llm: llm.predict(PromptTemplate("Capital of {country}?"), country="France")),
    "chat_with_tools": ("chat", lambda llm: llm.chat_with_tools([FunctionTool.from_defaults(fn=multiply)], "3x4?")),
    "stream_chat_with_tools": (
        "chat",
        lambda llm: _drain(llm.stream_chat_with_tools([FunctionTool.from_defaults(fn=multiply)], "3x4?")),
    ),
    "predict_and_call": ("chat", lambda llm: llm.predict_and_call([FunctionTool.from_defaults(fn=multiply)], "3x4?")),
    "structured_predict": (
        "chat",
        lambda llm: llm.structured_predict(City, PromptTemplate("Capital of {c}?"), c="France"),
    ),
}


async def _adrain(value: Any) -> Any:
    return [x async for x in value] if hasattr(value, "__anext__") else value


ASYNC: dict[str, tuple[str, Callable[[Polyroute], Awaitable[Any]]]] = {
    "achat": ("chat", lambda llm: llm.achat(MESSAGES)),
    "acomplete": ("completion", lambda llm: llm.acomplete("Capital of France?")),
    "astream_chat": ("chat", lambda llm: llm.astream_chat(MESSAGES)),
    "astream_complete": ("completion", lambda llm: llm.astream_complete("Capital of France?")),
    "achat_with_tools": ("chat", lambda llm: llm.achat_with_tools([FunctionTool.from_defaults(fn=multiply)], "3x4?")),
    "astructured_predict": (
        "chat",
        lambda llm: llm.astructured_predict(City, PromptTemplate("Capital of {c}?"), c="France"),
    ),
}

TOOL_CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "chat_with_tools": ("multiply", {"a": 3, "b": 4}),
    "stream_chat_with_tools": ("multiply", {"a": 3, "b": 4}),
    "predict_and_call": ("multiply", {"a": 3, "b": 4}),
    "achat_with_tools": ("multiply", {"a": 3, "b": 4}),
    "structured_predict": ("City", {"name": "Paris"}),
    "astructured_predict": ("City", {"name": "Paris"}),
}


@dataclass
class Counting:
    """One call through an LLM that fails on alpha and is answered by beta, and what it must count."""

    alpha: SimulatedProvider
    beta: SimulatedProvider
    providers: dict[str, SimulatedProvider]
    recorder: Recorder
    tokens: TokenCountingHandler

    def llm(self, router: Router, method: str) -> Polyroute:
        """An LLM over ``router`` whose next call fails on alpha, then beta answers as ``method`` needs."""
        self.alpha.enqueue(ErrorReply(503))  # a failed attempt is part of the same call
        _scripted(self.beta, *TOOL_CALLS.get(method, ()))
        return Polyroute(model="chat-model", router=router, callback_manager=CallbackManager([self.tokens]))

    def assert_counted_once(self, kind: str) -> None:
        """One ``kind`` event (chat or completion) and none of the other, one token count, two requests."""
        chat, completion = (LLMChatStartEvent, LLMChatEndEvent), (LLMCompletionStartEvent, LLMCompletionEndEvent)
        (start, end), other = (chat, completion) if kind == "chat" else (completion, chat)
        assert (self.recorder.count(start), self.recorder.count(end)) == (1, 1)
        assert (self.recorder.count(other[0]), self.recorder.count(other[1])) == (0, 0)
        assert [(c.prompt_token_count, c.completion_token_count) for c in self.tokens.llm_token_counts] == [(11, 7)]
        assert sum(len(p.requests) for p in self.providers.values()) == 2  # alpha's failure, then beta


@pytest.fixture
def counting(
    alpha: SimulatedProvider,
    beta: SimulatedProvider,
    providers: dict[str, SimulatedProvider],
    recorder: Recorder,
    tokens: TokenCountingHandler,
) -> Counting:
    return Counting(alpha, beta, providers, recorder, tokens)


@pytest.mark.parametrize("method", list(SYNC))
def test_sync_entry_points_count_once(method: str, router: Router, counting: Counting) -> None:
    kind, call = SYNC[method]
    call(counting.llm(router, method))
    counting.assert_counted_once(kind)


@pytest.mark.asyncio
@pytest.mark.parametrize("method", list(ASYNC))
async def test_async_entry_points_count_once(method: str, arouter: Router, counting: Counting) -> None:
    kind, call = ASYNC[method]
    await _adrain(await call(counting.llm(arouter, method)))
    counting.assert_counted_once(kind)


def test_a_failed_call_is_one_event_ending_in_its_error(
    llm: Polyroute, providers: dict[str, SimulatedProvider], recorder: Recorder, tokens: TokenCountingHandler
) -> None:
    for provider in providers.values():
        provider.set_default(ErrorReply(503))
    llm.callback_manager = CallbackManager([tokens])

    with pytest.raises(NoEndpointAvailable):
        llm.chat(MESSAGES)

    assert (recorder.count(LLMChatStartEvent), recorder.count(LLMChatEndEvent)) == (1, 0)
    drops = [e for e in recorder.events if isinstance(e, SpanDropEvent)]
    assert len(drops) == 1
    assert drops[0].err_str.startswith("every endpoint failed or was unavailable")
    assert tokens.total_llm_token_count == 0


def test_events_never_carry_the_caller_key(router: Router, alpha: SimulatedProvider, recorder: Recorder) -> None:
    llm = Polyroute(model="chat-model", router=router, caller_key="ck-secret-123")

    llm.chat(MESSAGES)
    llm.complete("hi")

    starts = [e for e in recorder.events if isinstance(e, (LLMChatStartEvent, LLMCompletionStartEvent))]
    assert len(starts) == 2
    for event in starts:
        assert "ck-secret-123" not in str(event.model_dump())
        assert "chat-model" in event.model_dict.values()  # to_payload() or, before core 0.14.2x, to_dict()
