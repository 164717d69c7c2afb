"""chat_with_tools and friends, tool choice, and reading tool calls back."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.llms import ChatMessage
from llama_index.core.tools import FunctionTool
from polyroute.testing import Reply, SimulatedProvider, ToolCallSpec

from llama_index.llms.polyroute import Polyroute


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


TOOLS = [FunctionTool.from_defaults(fn=multiply), FunctionTool.from_defaults(fn=add)]
CALL = ToolCallSpec(name="multiply", arguments={"a": 3, "b": 4}, id="call_m")


def _sent(provider: SimulatedProvider) -> dict[str, Any]:
    body = provider.requests[-1].json
    assert body is not None
    return body


def _selections(llm: Polyroute, resp: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [(s.tool_id, s.tool_name, s.tool_kwargs) for s in llm.get_tool_calls_from_response(resp)]


def test_chat_with_tools_sends_the_tools_and_reads_the_call(llm: Polyroute, alpha: SimulatedProvider) -> None:
    alpha.set_default(Reply(tool_calls=[CALL]))
    history = [ChatMessage(role="system", content="Use tools.")]

    resp = llm.chat_with_tools(TOOLS, user_msg="What is 3 x 4?", chat_history=history)

    assert _selections(llm, resp) == [("call_m", "multiply", {"a": 3, "b": 4})]
    assert len(history) == 1  # the caller's history is not appended to
    body = _sent(alpha)
    assert [t["function"]["name"] for t in body["tools"]] == ["multiply", "add"]
    assert body["tools"][0]["function"]["parameters"]["required"] == ["a", "b"]
    assert body["tool_choice"] == "auto"
    assert body["parallel_tool_calls"] is False
    assert body["messages"][-1] == {"role": "user", "content": "What is 3 x 4?"}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"tool_required": True}, "required"),
        ({"tool_choice": "none"}, "none"),
        ({"tool_choice": "add"}, {"type": "function", "function": {"name": "add"}}),
        (
            {"tool_choice": {"type": "function", "function": {"name": "add"}}},
            {"type": "function", "function": {"name": "add"}},
        ),
    ],
)
def test_tool_choice(llm: Polyroute, alpha: SimulatedProvider, options: dict[str, Any], expected: Any) -> None:
    llm.chat_with_tools(TOOLS, user_msg="hi", **options)

    assert _sent(alpha)["tool_choice"] == expected


def test_parallel_calls_allowed_leaves_the_provider_default(llm: Polyroute, alpha: SimulatedProvider) -> None:
    alpha.set_default(Reply(tool_calls=[CALL, ToolCallSpec(name="add", arguments={"a": 1, "b": 2}, id="call_a")]))

    resp = llm.chat_with_tools(TOOLS, user_msg="both", allow_parallel_tool_calls=True)

    assert "parallel_tool_calls" not in _sent(alpha)
    assert [name for _, name, _ in _selections(llm, resp)] == ["multiply", "add"]


def test_without_parallel_calls_only_the_first_is_kept(llm: Polyroute, alpha: SimulatedProvider) -> None:
    alpha.set_default(Reply(tool_calls=[CALL, ToolCallSpec(name="add", arguments={"a": 1, "b": 2}, id="call_a")]))

    resp = llm.chat_with_tools(TOOLS, user_msg="both")

    assert _selections(llm, resp) == [("call_m", "multiply", {"a": 3, "b": 4})]
    assert [c["id"] for c in resp.message.additional_kwargs["tool_calls"]] == ["call_m"]


@pytest.mark.asyncio
async def test_achat_with_tools(allm: Polyroute, alpha: SimulatedProvider) -> None:
    alpha.set_default(Reply(tool_calls=[CALL]))

    resp = await allm.achat_with_tools(TOOLS, user_msg="What is 3 x 4?", tool_required=True)

    assert _selections(allm, resp) == [("call_m", "multiply", {"a": 3, "b": 4})]
    assert _sent(alpha)["tool_choice"] == "required"


def test_stream_chat_with_tools_builds_the_call_from_fragments(llm: Polyroute, alpha: SimulatedProvider) -> None:
    alpha.set_default(Reply(tool_calls=[CALL], chunk_size=3))

    responses = list(llm.stream_chat_with_tools(TOOLS, user_msg="What is 3 x 4?"))

    assert len(responses) > 4  # the arguments arrived in 3-character fragments
    partial = [
        _selections(llm, r) for r in responses if llm.get_tool_calls_from_response(r, error_on_no_tool_call=False)
    ]
    assert partial[0][0][1] == "multiply"
    assert _selections(llm, responses[-1]) == [("call_m", "multiply", {"a": 3, "b": 4})]
    assert responses[-1].message.content is None
    assert responses[-1].additional_kwargs["provider"] == "alpha"


@pytest.mark.asyncio
async def test_astream_chat_with_tools(allm: Polyroute, alpha: SimulatedProvider) -> None:
    alpha.set_default(Reply(tool_calls=[CALL], chunk_size=3))

    responses = [r async for r in await allm.astream_chat_with_tools(TOOLS, user_msg="What is 3 x 4?")]

    assert _selections(allm, responses[-1]) == [("call_m", "multiply", {"a": 3, "b": 4})]


def test_no_tool_call(llm: Polyroute, alpha: SimulatedProvider) -> None:
    alpha.set_default(Reply(text="I'd rather not."))
    resp = llm.chat_with_tools(TOOLS, user_msg="hi")

    assert llm.get_tool_calls_from_response(resp, error_on_no_tool_call=False) == []
    with pytest.raises(ValueError, match="expected at least one tool call"):
        llm.get_tool_calls_from_response(resp)


def test_arguments_that_are_not_json_give_no_arguments(llm: Polyroute, alpha: SimulatedProvider) -> None:
    alpha.set_default(Reply(tool_calls=[ToolCallSpec(name="multiply", arguments="not json", id="c")]))

    resp = llm.chat_with_tools(TOOLS, user_msg="hi")

    assert _selections(llm, resp) == [("c", "multiply", {})]


def test_predict_and_call_runs_the_tool(llm: Polyroute, alpha: SimulatedProvider) -> None:
    alpha.set_default(Reply(tool_calls=[CALL]))

    out = llm.predict_and_call(TOOLS, user_msg="What is 3 x 4?")

    assert out.response == "12"
    assert [s.tool_name for s in out.sources] == ["multiply"]


@pytest.mark.asyncio
async def test_apredict_and_call_runs_the_tool(allm: Polyroute, alpha: SimulatedProvider) -> None:
    alpha.set_default(Reply(tool_calls=[CALL]))

    out = await allm.apredict_and_call(TOOLS, user_msg="What is 3 x 4?")

    assert out.response == "12"
