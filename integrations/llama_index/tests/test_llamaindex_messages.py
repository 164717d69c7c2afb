"""What LlamaIndex messages become on the wire, as the simulated provider received them."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    AudioBlock,
    CacheControl,
    CachePoint,
    DocumentBlock,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    VideoBlock,
)
from llama_index.core.llms import ChatMessage, MessageRole
from polyroute.testing import Reply, SimulatedProvider, ToolCallSpec

from llama_index.llms.polyroute import Polyroute

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


def _sent_messages(llm: Polyroute, alpha: SimulatedProvider, messages: list[ChatMessage]) -> list[dict[str, Any]]:
    llm.chat(messages)
    body = alpha.requests[-1].json
    assert body is not None
    return list(body["messages"])


def test_a_tool_round_trip(llm: Polyroute, alpha: SimulatedProvider) -> None:
    messages = [
        ChatMessage(role="user", content="What is 3 x 4?", additional_kwargs={"name": "ada"}),
        ChatMessage(
            role="assistant",
            blocks=[
                ThinkingBlock(content="I should multiply."),
                ToolCallBlock(tool_call_id="call_1", tool_name="multiply", tool_kwargs={"a": 3, "b": 4}),
                ToolCallBlock(tool_call_id="call_2", tool_name="log", tool_kwargs='{"msg": "x"}'),
            ],
        ),
        ChatMessage(role="tool", content="12", additional_kwargs={"tool_call_id": "call_1", "name": "multiply"}),
        ChatMessage(role="tool", content="ok", additional_kwargs={"tool_call_id": "call_2"}),
    ]

    sent = _sent_messages(llm, alpha, messages)

    assert sent == [
        {"role": "user", "content": "What is 3 x 4?", "name": "ada"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"type": "function", "id": "call_1", "function": {"name": "multiply", "arguments": '{"a": 3, "b": 4}'}},
                {"type": "function", "id": "call_2", "function": {"name": "log", "arguments": '{"msg": "x"}'}},
            ],
        },
        {"role": "tool", "content": "12", "tool_call_id": "call_1"},
        {"role": "tool", "content": "ok", "tool_call_id": "call_2"},
    ]


def test_legacy_tool_calls_in_additional_kwargs(llm: Polyroute, alpha: SimulatedProvider) -> None:
    legacy = [{"id": "call_9", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}]
    messages = [
        ChatMessage(role="user", content="look it up"),
        ChatMessage(role="assistant", content="", additional_kwargs={"tool_calls": legacy}),
        ChatMessage(role="tool", content="found", additional_kwargs={"tool_call_id": "call_9"}),
    ]

    sent = _sent_messages(llm, alpha, messages)

    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"type": "function", "id": "call_9", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}],
    }


@pytest.mark.parametrize("streamed", [False, True])
def test_a_tool_call_reply_goes_back_unchanged(llm: Polyroute, alpha: SimulatedProvider, streamed: bool) -> None:
    alpha.enqueue(Reply(tool_calls=[ToolCallSpec(name="multiply", arguments='{"a": 3, "b": 4}', id="call_a")]))
    history = [ChatMessage(role="user", content="3 x 4?")]
    reply = list(llm.stream_chat(history))[-1] if streamed else llm.chat(history)
    result = ChatMessage(role="tool", content="12", additional_kwargs={"tool_call_id": "call_a"})

    sent = _sent_messages(llm, alpha, [*history, reply.message, result])

    assert sent[1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"type": "function", "id": "call_a", "function": {"name": "multiply", "arguments": '{"a": 3, "b": 4}'}}
            ],
        },
        {"role": "tool", "content": "12", "tool_call_id": "call_a"},
    ]


def test_images_audio_and_documents_become_content_parts(llm: Polyroute, alpha: SimulatedProvider) -> None:
    message = ChatMessage(
        role="user",
        blocks=[
            TextBlock(text="Describe these."),
            ImageBlock(url="https://example.com/cat.png", detail="low"),
            ImageBlock(image=PNG),
            AudioBlock(audio=b"RIFF0000WAVEfmt ", format="wav"),
            DocumentBlock(data=b"%PDF-1.4 hello", title="notes.pdf", document_mimetype="application/pdf"),
            CachePoint(cache_control=CacheControl(type="ephemeral")),
        ],
    )

    [sent] = _sent_messages(llm, alpha, [message])

    b64 = base64.b64encode
    assert sent["content"] == [
        {"type": "text", "text": "Describe these."},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64(PNG).decode()}},
        {"type": "input_audio", "input_audio": {"data": b64(b"RIFF0000WAVEfmt ").decode(), "format": "wav"}},
        {
            "type": "file",
            "file": {
                "filename": "notes.pdf",
                "file_data": "data:application/pdf;base64," + b64(b"%PDF-1.4 hello").decode(),
            },
        },
    ]


def test_several_text_blocks_are_joined_like_message_content(llm: Polyroute, alpha: SimulatedProvider) -> None:
    message = ChatMessage(role="user", blocks=[TextBlock(text="one"), TextBlock(text="two")])

    [sent] = _sent_messages(llm, alpha, [message])

    assert sent == {"role": "user", "content": message.content}


def test_other_vendors_model_roles_are_the_assistant(llm: Polyroute, alpha: SimulatedProvider) -> None:
    messages = [
        ChatMessage(role="user", content="hi"),
        ChatMessage(role=MessageRole.CHATBOT, content="hello"),
        ChatMessage(role=MessageRole.MODEL, content="there"),
        ChatMessage(role="user", content="bye"),
    ]

    sent = _sent_messages(llm, alpha, messages)

    assert [m["role"] for m in sent] == ["user", "assistant", "assistant", "user"]


def test_a_block_that_cannot_be_sent_is_an_error_not_dropped(llm: Polyroute, alpha: SimulatedProvider) -> None:
    message = ChatMessage(role="user", blocks=[TextBlock(text="watch"), VideoBlock(video=b"\x00\x00\x00\x18ftypmp42")])

    with pytest.raises(ValueError, match="cannot send a VideoBlock"):
        llm.chat([message])
    assert alpha.requests == []


def test_an_image_of_unknown_type_is_an_error(llm: Polyroute, alpha: SimulatedProvider) -> None:
    with pytest.raises(ValueError, match="image_mimetype"):
        llm.chat([ChatMessage(role="user", blocks=[ImageBlock(image=b"not an image")])])
