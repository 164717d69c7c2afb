"""Adding up a stream: the chunks of a streamed call assembled into the :class:`ChatCompletion` they make.

Text and reasoning fragments are joined; tool calls are assembled from their deltas by
``index`` (a call's ``id``, ``type`` and ``name`` arrive once, its ``arguments`` in pieces);
the finish reason, usage and route are taken from the chunks that carry them.
"""

from __future__ import annotations

from polyroute._types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatMessage,
    Choice,
    FunctionCall,
    Route,
    ToolCall,
    Usage,
)

__all__ = ["StreamAccumulator"]


class _CallParts:
    __slots__ = ("arguments", "id", "name", "type")

    def __init__(self) -> None:
        self.id: str | None = None
        self.type: str | None = None
        self.name: list[str] = []
        self.arguments: list[str] = []

    def tool_call(self) -> ToolCall:
        return ToolCall(self.id, self.type or "function", FunctionCall("".join(self.name), "".join(self.arguments)))


class _ChoiceParts:
    __slots__ = ("calls", "finish_reason", "reasoning", "role", "text")

    def __init__(self) -> None:
        self.role = "assistant"
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, _CallParts] = {}
        self.finish_reason: str | None = None

    def add_call(self, call: ToolCall) -> None:
        index = call.index
        if index is None:  # no index: a new id starts a call, anything else continues the last one
            if call.id and all(c.id != call.id for c in self.calls.values()):
                index = len(self.calls)
            else:
                index = max(self.calls, default=0)
        parts = self.calls.get(index)
        if parts is None:
            parts = self.calls[index] = _CallParts()
        if call.id:
            parts.id = call.id
        if call.type:
            parts.type = call.type
        if call.function.name:
            parts.name.append(call.function.name)
        if call.function.arguments:
            parts.arguments.append(call.function.arguments)

    def message(self) -> ChatMessage:
        calls = [self.calls[i].tool_call() for i in sorted(self.calls)]
        text = "".join(self.text) if self.text or not calls else None
        extra = {"reasoning_content": "".join(self.reasoning)} if self.reasoning else {}
        return ChatMessage(self.role, text, calls or None, extra)


class StreamAccumulator:
    """Adds up the chunks of a stream into the :class:`~polyroute.ChatCompletion` they make.

    ::

        acc = polyroute.StreamAccumulator()
        for chunk in router.completion(model="m", messages=msgs, stream=True):
            acc.add(chunk)
            print(chunk.choices[0].delta.content or "", end="")
        resp = acc.completion()   # text, tool calls, finish reason, usage and route

    Useful to framework adapters that show a running message: :attr:`text`, :attr:`reasoning`
    and :attr:`tool_calls` are the first choice's so far.
    """

    __slots__ = ("_choices", "created", "id", "model", "route", "system_fingerprint", "usage")

    def __init__(self) -> None:
        self._choices: dict[int, _ChoiceParts] = {}
        self.id = ""
        self.created = 0
        self.model = ""
        self.system_fingerprint: str | None = None
        #: the usage the stream reported (on its last chunks), if any
        self.usage: Usage | None = None
        #: the route, once the final chunk has arrived
        self.route: Route | None = None

    def add(self, chunk: ChatCompletionChunk) -> None:
        """Take the next chunk."""
        self.id = self.id or chunk.id
        self.created = self.created or chunk.created
        self.model = self.model or chunk.model
        self.system_fingerprint = self.system_fingerprint or chunk.system_fingerprint
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.route is not None:
            self.route = chunk.route
        for choice in chunk.choices:
            parts = self._choices.get(choice.index)
            if parts is None:
                parts = self._choices[choice.index] = _ChoiceParts()
            delta = choice.delta
            if delta.role:
                parts.role = delta.role
            if delta.content:
                parts.text.append(delta.content)
            reasoning = delta.reasoning
            if reasoning:
                parts.reasoning.append(reasoning)
            for call in delta.tool_calls or ():
                parts.add_call(call)
            if choice.finish_reason is not None:
                parts.finish_reason = choice.finish_reason

    def _first(self) -> _ChoiceParts:
        return self._choices[min(self._choices)] if self._choices else _ChoiceParts()

    @property
    def role(self) -> str:
        """The first choice's role (``"assistant"`` unless a delta said otherwise)."""
        return self._first().role

    @property
    def text(self) -> str:
        """The first choice's text so far."""
        return "".join(self._first().text)

    @property
    def reasoning(self) -> str:
        """The first choice's reasoning text so far."""
        return "".join(self._first().reasoning)

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The first choice's tool calls so far, in index order (arguments as received)."""
        calls = self._first().calls
        return [calls[i].tool_call() for i in sorted(calls)]

    def message(self) -> ChatMessage:
        """The first choice's message so far (``content`` is ``None`` for tool calls alone)."""
        return self._first().message()

    @property
    def finish_reason(self) -> str | None:
        """The first choice's finish reason, once it has arrived."""
        return self._first().finish_reason

    def completion(self) -> ChatCompletion:
        """The whole response the chunks so far add up to (``route`` set if the stream finished)."""
        choices = [Choice(i, self._choices[i].message(), self._choices[i].finish_reason) for i in sorted(self._choices)]
        resp = ChatCompletion(
            self.id, self.created, self.model, choices, self.usage, system_fingerprint=self.system_fingerprint
        )
        resp.route = self.route
        return resp
