"""``polyroute.StreamAccumulator``: a stream's chunks add up to the response the call would have given."""

from __future__ import annotations

from typing import Any

import polyroute
from polyroute import ChatCompletionChunk, ChunkChoice, Delta, FunctionCall, StreamAccumulator, ToolCall
from polyroute.testing import FunctionBackend, Reply, ToolCallSpec

USER = [{"role": "user", "content": "hi"}]


def chunk(*choices: ChunkChoice, **kw: Any) -> ChatCompletionChunk:
    return ChatCompletionChunk("c-1", 5, "m-1", list(choices), **kw)


def test_a_streamed_answer_adds_up_to_the_whole_answer() -> None:
    reply = Reply(
        text="Here is the weather.",
        reasoning="the user wants weather",
        tool_calls=[ToolCallSpec("weather", {"city": "Paris"}, id="a"), ToolCallSpec("time", {"tz": "CET"}, id="b")],
        chunk_size=3,
    )
    cfg = {"providers": {"p": {"api": "custom"}}, "models": {"m": {"endpoints": [{"provider": "p", "model": "m-1"}]}}}
    router = polyroute.Router.from_config(cfg, backends={"p": FunctionBackend(lambda call: reply)})
    whole = router.completion(model="m", messages=USER)
    acc = StreamAccumulator()
    for c in router.completion(model="m", messages=USER, stream=True, stream_options={"include_usage": True}):
        acc.add(c)
    streamed = acc.completion()
    assert streamed.choices[0].message.model_dump() == whole.choices[0].message.model_dump()
    assert streamed.choices[0].finish_reason == whole.choices[0].finish_reason == "tool_calls"
    assert streamed.usage == whole.usage
    assert streamed.route is not None and streamed.route.provider == "p"
    assert (acc.text, acc.reasoning, acc.finish_reason) == (
        "Here is the weather.",
        "the user wants weather",
        "tool_calls",
    )


def test_tool_call_fragments_are_joined_by_index() -> None:
    acc = StreamAccumulator()
    acc.add(chunk(ChunkChoice(0, Delta(role="assistant"))))
    acc.add(
        chunk(ChunkChoice(0, Delta(tool_calls=[ToolCall("call_1", "function", FunctionCall("get", '{"ci'), index=0)])))
    )
    acc.add(
        chunk(ChunkChoice(0, Delta(tool_calls=[ToolCall("call_2", "function", FunctionCall("put", "{}"), index=1)])))
    )
    acc.add(chunk(ChunkChoice(0, Delta(tool_calls=[ToolCall(None, None, FunctionCall(None, 'ty": 1}'), index=0)]))))
    assert [(c.id, c.function.name, c.function.arguments) for c in acc.tool_calls] == [
        ("call_1", "get", '{"city": 1}'),
        ("call_2", "put", "{}"),
    ]
    assert acc.completion().choices[0].message.content is None  # tool calls only


def test_tool_calls_without_an_index_follow_their_ids() -> None:
    acc = StreamAccumulator()
    acc.add(chunk(ChunkChoice(0, Delta(tool_calls=[ToolCall("x", "function", FunctionCall("f", "{"))]))))
    acc.add(chunk(ChunkChoice(0, Delta(tool_calls=[ToolCall(None, None, FunctionCall(None, "}"))]))))
    acc.add(chunk(ChunkChoice(0, Delta(tool_calls=[ToolCall("y", "function", FunctionCall("g", "{}"))]))))
    assert [(c.id, c.function.arguments) for c in acc.tool_calls] == [("x", "{}"), ("y", "{}")]


def test_several_choices_and_an_empty_stream() -> None:
    acc = StreamAccumulator()
    acc.add(chunk(ChunkChoice(0, Delta(content="a")), ChunkChoice(1, Delta(content="b"))))
    acc.add(chunk(ChunkChoice(1, Delta(content="c"), "stop"), ChunkChoice(0, Delta(), "length")))
    resp = acc.completion()
    assert [(c.index, c.message.content, c.finish_reason) for c in resp.choices] == [
        (0, "a", "length"),
        (1, "bc", "stop"),
    ]
    assert (resp.id, resp.created, resp.model) == ("c-1", 5, "m-1")
    empty = StreamAccumulator()
    assert (empty.text, empty.tool_calls, empty.finish_reason) == ("", [], None)
    assert empty.completion().choices == []
