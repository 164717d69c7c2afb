"""What ChatPolyroute sends: messages, parameters, tools, structured-output requests, routing options.

Each test reads what the simulated provider received (``provider.requests[i].json``) or what the
router was asked (the ``recorder`` observer sees polyroute's ``ChatRequest``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_polyroute import ChatPolyroute
from pydantic import BaseModel, Field

import polyroute
from polyroute.testing import Reply, SimulatedProvider

if TYPE_CHECKING:
    from conftest import CallRecorder


class Joke(BaseModel):
    """A joke."""

    setup: str = Field(description="question to set up a joke")
    punchline: str = Field(description="answer to resolve the joke")


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


@tool
def get_time(city: str) -> str:
    """The local time in a city."""
    return f"Noon in {city}"


def sent(provider: SimulatedProvider, index: int = -1) -> dict[str, Any]:
    body = provider.requests[index].json
    assert body is not None
    return body


@pytest.fixture
def chat(router: polyroute.Router) -> ChatPolyroute:
    return ChatPolyroute(model="sim-large", router=router)


# -- messages ---------------------------------------------------------------------------------


def test_conversation_is_sent_in_openai_shape(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    chat.invoke(
        [
            SystemMessage("Be brief."),
            SystemMessage("Speak French.", additional_kwargs={"__openai_role__": "developer"}),
            HumanMessage("What's the weather in Paris?", name="alice"),
            AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "c1"}]),
            ToolMessage("Sunny", tool_call_id="c1", name="get_weather"),
            AIMessage("Il fait beau."),
            HumanMessage("Merci"),
        ]
    )
    assert sent(alpha)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Speak French."},
        {"role": "user", "content": "What's the weather in Paris?", "name": "alice"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "Sunny"},
        {"role": "assistant", "content": "Il fait beau."},
        {"role": "user", "content": "Merci"},
    ]


def test_content_blocks_become_openai_parts(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    chat.invoke(
        [
            HumanMessage(
                [
                    "Look:",
                    {"type": "text", "text": "long context", "cache_control": {"type": "ephemeral"}},
                    {"type": "image", "base64": "iVBORw0KGgo=", "mime_type": "image/png"},
                    {"type": "image", "url": "https://example.com/cat.png"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}},
                    {"type": "file", "base64": "JVBERi0=", "mime_type": "application/pdf", "filename": "a.pdf"},
                    {"type": "audio", "base64": "UklGRg==", "mime_type": "audio/wav"},
                ]
            )
        ]
    )
    assert sent(alpha)["messages"][0]["content"] == [
        {"type": "text", "text": "Look:"},
        {"type": "text", "text": "long context", "cache_control": {"type": "ephemeral"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
    ]


def test_assistant_history_sends_only_text_and_tool_calls(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    call = {"name": "get_weather", "args": {"city": "Oslo"}, "id": "c9", "type": "tool_call"}
    chat.invoke(
        [
            HumanMessage("Weather in Oslo?"),
            AIMessage(
                [
                    {"type": "reasoning", "reasoning": "I should call the tool."},
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "c9", "name": "get_weather", "input": {"city": "Oslo"}},
                ],
                tool_calls=[call],
            ),
            ToolMessage("Snow", tool_call_id="c9"),
        ]
    )
    assistant = sent(alpha)["messages"][1]
    assert assistant == {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {"id": "c9", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
        ],
    }


def test_tool_message_with_parts_keeps_them(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    chat.invoke(
        [
            HumanMessage("Draw"),
            AIMessage("", tool_calls=[{"name": "draw", "args": {}, "id": "d1"}]),
            ToolMessage([{"type": "image", "base64": "iVBO", "mime_type": "image/png"}], tool_call_id="d1"),
        ]
    )
    assert sent(alpha)["messages"][2] == {
        "role": "tool",
        "tool_call_id": "d1",
        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}],
    }


# -- parameters -------------------------------------------------------------------------------


def test_model_parameters_are_sent_and_call_values_override_them(
    router: polyroute.Router, alpha: SimulatedProvider
) -> None:
    chat = ChatPolyroute(
        model="sim-large",
        router=router,
        temperature=0.2,
        max_tokens=50,
        stop=["END"],
        seed=3,
        top_p=0.9,
        reasoning_effort="low",
        extra_body={"top_k": 5},
    )
    chat.invoke("hi", temperature=0.7, stop=["STOP"], seed=11)
    body = sent(alpha)
    assert {
        k: body[k] for k in ("temperature", "max_tokens", "stop", "seed", "top_p", "reasoning_effort", "top_k")
    } == {
        "temperature": 0.7,
        "max_tokens": 50,
        "stop": ["STOP"],
        "seed": 11,
        "top_p": 0.9,
        "reasoning_effort": "low",
        "top_k": 5,
    }


def test_unset_parameters_and_empty_stop_are_not_sent(router: polyroute.Router, alpha: SimulatedProvider) -> None:
    ChatPolyroute(model="sim-large", router=router, stop=[]).invoke("hi")
    assert set(sent(alpha)) == {"model", "messages"}


def test_bound_parameters_apply(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    chat.bind(temperature=0.0, max_completion_tokens=7).invoke("hi")
    assert sent(alpha)["temperature"] == 0.0
    assert sent(alpha)["max_completion_tokens"] == 7


def test_unknown_call_parameter_fails_before_sending(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    with pytest.raises(TypeError, match="temprature"):
        chat.invoke("hi", temprature=0)
    assert alpha.requests == []


def test_model_can_be_chosen_per_call(chat: ChatPolyroute, beta: SimulatedProvider) -> None:
    result = chat.invoke("hi", model="sim-mini")
    assert sent(beta)["model"] == "mini-001"
    assert result.response_metadata["model_name"] == "sim-mini"


# -- routing options and caller identity ------------------------------------------------------


def test_routing_options_and_caller_identity_reach_the_router(
    router: polyroute.Router, recorder: CallRecorder, alpha: SimulatedProvider
) -> None:
    chat = ChatPolyroute(
        model="sim-large",
        router=router,
        models=["sim-mini"],
        provider={"sort": "price"},
        session_id="conv-42",
        timeout=30,
        caller_key="key-1",
        project="support-bot",
        caller_tags=["prod", "eu"],
        caller_metadata={"ticket": 7},
        user="user-9",
    )
    chat.invoke("hi")
    request = recorder.requests[-1]
    assert request.models == ("sim-large", "sim-mini")
    assert request.provider == {"sort": "price"}
    assert request.session_id == "conv-42"
    assert request.timeout == 30
    assert request.caller == polyroute.Caller(
        user="user-9", key="key-1", project="support-bot", tags=("prod", "eu"), metadata={"ticket": 7}
    )
    body = sent(alpha)
    assert body["user"] == "user-9"
    assert not body.keys() & {"caller_key", "project", "tags", "caller_tags", "session_id", "provider", "models"}


def test_caller_identity_can_be_set_per_call(router: polyroute.Router, recorder: CallRecorder) -> None:
    chat = ChatPolyroute(model="sim-large", router=router, caller_key="default", caller_tags=["a"])
    chat.bind(caller_key="team-b", caller_tags=["b"], project="p2").invoke("hi")
    chat.invoke("hi", caller_metadata={"run": 1})
    first, second = recorder.requests
    assert (first.caller.key, first.caller.tags, first.caller.project) == ("team-b", ("b",), "p2")
    assert (second.caller.key, second.caller.tags, dict(second.caller.metadata)) == ("default", ("a",), {"run": 1})


def test_routing_options_can_be_set_per_call(chat: ChatPolyroute, recorder: CallRecorder) -> None:
    chat.invoke("hi", models=["sim-mini"], provider={"order": ["beta"]}, session_id="s-1", timeout=5.0)
    request = recorder.requests[-1]
    assert (request.models, request.provider, request.session_id, request.timeout) == (
        ("sim-large", "sim-mini"),
        {"order": ("beta",)},  # normalised once, when the request is validated
        "s-1",
        5.0,
    )


def test_langchain_tags_and_metadata_stay_out_of_the_ledger(chat: ChatPolyroute, recorder: CallRecorder) -> None:
    chat.invoke("hi", config={"tags": ["trace-only"], "metadata": {"trace": True}})
    caller = recorder.requests[-1].caller
    assert caller.tags == ()
    assert dict(caller.metadata) == {}


# -- tools ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("any", "required"),
        ("required", "required"),
        ("auto", "auto"),
        ("none", "none"),
        ("get_time", {"type": "function", "function": {"name": "get_time"}}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "function", "function": {"name": "get_weather"}},
        ),
    ],
)
def test_tool_choice_is_translated(chat: ChatPolyroute, alpha: SimulatedProvider, choice: Any, expected: Any) -> None:
    chat.bind_tools([get_weather, get_time], tool_choice=choice).invoke("Weather and time in Rome?")
    body = sent(alpha)
    assert body["tool_choice"] == expected
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather", "get_time"]


def test_tool_choice_true_forces_the_only_tool(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    chat.bind_tools([get_weather], tool_choice=True).invoke("Rome?")
    assert sent(alpha)["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_no_tool_choice_leaves_it_to_the_model(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    chat.bind_tools([get_weather]).invoke("Rome?")
    assert "tool_choice" not in sent(alpha)


def test_tool_choice_naming_an_unbound_tool_is_rejected(chat: ChatPolyroute) -> None:
    with pytest.raises(ValueError, match="get_news"):
        chat.bind_tools([get_weather], tool_choice="get_news")


def test_strict_tools_and_parallel_tool_calls(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    chat.bind_tools([get_weather], strict=True, parallel_tool_calls=False).invoke("Rome?")
    body = sent(alpha)
    assert body["tools"][0]["function"]["strict"] is True
    assert body["parallel_tool_calls"] is False


# -- structured output: each method sends its own request type --------------------------------


def test_function_calling_sends_the_schema_as_a_forced_tool(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    result = chat.with_structured_output(Joke, method="function_calling").invoke("A joke about cats")
    body = sent(alpha)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Joke"}}
    assert body["tools"][0]["function"]["parameters"]["required"] == ["setup", "punchline"]
    assert "response_format" not in body
    assert result == Joke(setup="example", punchline="example")


def test_function_calling_is_the_default_method(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    chat.with_structured_output(Joke).invoke("A joke about dogs")
    body = sent(alpha)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Joke"}}
    assert "response_format" not in body


def test_json_schema_sends_response_format_json_schema(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    result = chat.with_structured_output(Joke, method="json_schema", strict=True).invoke("A joke about cats")
    body = sent(alpha)
    assert "tools" not in body
    assert "tool_choice" not in body
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    spec = response_format["json_schema"]
    assert (spec["name"], spec["description"], spec["strict"]) == ("Joke", "A joke.", True)
    assert spec["schema"]["properties"].keys() == {"setup", "punchline"}
    assert spec["schema"]["additionalProperties"] is False
    assert result == Joke(setup="example", punchline="example")


def test_json_mode_sends_response_format_json_object(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    alpha.enqueue(Reply(text=json.dumps({"setup": "Why?", "punchline": "Because."})))
    result = chat.with_structured_output(Joke, method="json_mode").invoke("A joke about cats, as JSON")
    body = sent(alpha)
    assert body["response_format"] == {"type": "json_object"}
    assert "tools" not in body
    assert result == Joke(setup="Why?", punchline="Because.")


def test_json_mode_without_schema_gives_a_dict(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    alpha.enqueue(Reply(text='{"n": 1}'))
    assert chat.with_structured_output(method="json_mode").invoke("JSON please") == {"n": 1}


async def test_structured_output_async_sends_the_same_requests(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    by_method = {}
    for method in ("function_calling", "json_schema"):
        result = await chat.with_structured_output(Joke.model_json_schema(), method=method).ainvoke("A joke")
        body = sent(alpha)
        by_method[method] = ("tools" in body, body.get("response_format", {}).get("type"), result)
    expected = {"setup": "example", "punchline": "example"}
    assert by_method == {"function_calling": (True, None, expected), "json_schema": (False, "json_schema", expected)}


def test_structured_output_include_raw(chat: ChatPolyroute) -> None:
    out = chat.with_structured_output(Joke, method="json_schema", include_raw=True).invoke("A joke")
    assert out["parsing_error"] is None
    assert out["parsed"] == Joke(setup="example", punchline="example")
    assert isinstance(out["raw"], AIMessage)
    assert out["raw"].response_metadata["provider"] == "alpha"


def test_structured_output_include_raw_keeps_parsing_errors(chat: ChatPolyroute, alpha: SimulatedProvider) -> None:
    alpha.enqueue(Reply(text="not json"))
    out = chat.with_structured_output(Joke, method="json_schema", include_raw=True).invoke("A joke")
    assert out["parsed"] is None
    assert out["parsing_error"] is not None
    assert out["raw"].content == "not json"


def test_structured_output_streams_parsed_objects(chat: ChatPolyroute) -> None:
    chunks = list(chat.with_structured_output(Joke, method="json_schema").stream("A joke"))
    assert chunks[-1] == Joke(setup="example", punchline="example")


def test_structured_output_rejects_unknown_options(chat: ChatPolyroute) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        chat.with_structured_output(Joke, mode="json")


def test_unknown_structured_output_method_is_rejected(chat: ChatPolyroute) -> None:
    with pytest.raises(ValueError, match="method"):
        chat.with_structured_output(Joke, method="xml")  # type: ignore[arg-type]
