"""A ``FunctionAgent`` calling a tool through Polyroute, end to end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest
from llama_index.core.agent.workflow import AgentOutput, AgentStream, FunctionAgent, ToolCallResult
from llama_index.core.tools import BaseTool, FunctionTool
from polyroute.testing import ErrorReply, FunctionBehavior, RecordedRequest, Reply, SimulatedProvider, ToolCallSpec

from llama_index.llms.polyroute import Polyroute

# llama-index-workflows inspects the agent's pydantic attributes when it collects the steps
pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20"),
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211"),
]


def _agent_model(request: RecordedRequest) -> Reply:
    """Call ``multiply`` for a question; answer with the tool's result once it is in the conversation."""
    last = request.messages[-1]
    if last["role"] == "tool":
        return Reply(text=f"The answer is {last['content']}.", chunk_size=6)
    assert request.json is not None and request.json.get("tools"), "the agent offers its tools"
    return Reply(tool_calls=[ToolCallSpec(name="multiply", arguments={"a": 6, "b": 7}, id="call_1")], chunk_size=4)


@pytest.fixture
def calls() -> list[tuple[int, int]]:
    return []


@pytest.fixture
def agent_tools(calls: list[tuple[int, int]]) -> list[BaseTool | Callable[..., Any]]:
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        calls.append((a, b))
        return a * b

    return [FunctionTool.from_defaults(fn=multiply)]


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [True, False])
async def test_function_agent_calls_a_tool(
    allm: Polyroute,
    alpha: SimulatedProvider,
    beta: SimulatedProvider,
    agent_tools: list[BaseTool | Callable[..., Any]],
    calls: list[tuple[int, int]],
    streaming: bool,
) -> None:
    alpha.enqueue(ErrorReply(503))  # the first step fails over to beta
    alpha.set_default(FunctionBehavior(_agent_model))
    beta.set_default(FunctionBehavior(_agent_model))
    agent = FunctionAgent(tools=agent_tools, llm=allm, system_prompt="Use tools for arithmetic.", streaming=streaming)

    handler = agent.run(user_msg="What is 6 times 7?")
    events: list[Any] = [event async for event in handler.stream_events()]
    result = cast(AgentOutput, await handler)

    assert calls == [(6, 7)]
    assert str(result.response.content) == "The answer is 42."
    tool_results = [e for e in events if isinstance(e, ToolCallResult)]
    assert [(r.tool_name, r.tool_kwargs, r.tool_output.content) for r in tool_results] == [
        ("multiply", {"a": 6, "b": 7}, "42")
    ]
    assert bool([e for e in events if isinstance(e, AgentStream)]) is streaming

    # step 1 went to beta after alpha failed; step 2 carried the call and its result back
    assert [len(p.requests) for p in (alpha, beta)] == [2, 1]
    final = alpha.requests[-1].json
    assert final is not None
    assert final["messages"][0] == {"role": "system", "content": "Use tools for arithmetic."}
    assert final["messages"][-2]["tool_calls"][0]["function"] == {"name": "multiply", "arguments": '{"a": 6, "b": 7}'}
    assert final["messages"][-1] == {"role": "tool", "content": "42", "tool_call_id": "call_1"}
    assert final.get("stream", False) is streaming
