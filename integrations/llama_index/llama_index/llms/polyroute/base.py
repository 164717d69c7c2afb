"""The :class:`Polyroute` LLM: LlamaIndex's function-calling LLM over a polyroute router."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from json import JSONDecodeError
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.llms.utils import parse_partial_json
from llama_index.core.types import BaseOutputParser, PydanticProgramMode

from llama_index.llms.polyroute._messages import to_wire_messages
from llama_index.llms.polyroute._metadata import candidate_endpoints, routed_metadata
from llama_index.llms.polyroute._responses import ChatStreamAssembler, chat_response, completion_response
from polyroute import Endpoint, Router, RouterHolder

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = ["Polyroute"]

#: ``tool_choice`` words that are not a tool's name
_TOOL_CHOICE_WORDS = frozenset({"none", "auto", "required"})


class Polyroute(RouterHolder, FunctionCallingLLM):
    """A LlamaIndex LLM whose every call is routed by polyroute.

    Each call picks a provider for ``model`` from polyroute's catalog, fails over to the next
    endpoint (or fallback model) when a provider breaks, and reports what it cost. Use it wherever
    LlamaIndex takes an LLM: query and chat engines, agents (``FunctionAgent``), structured
    prediction.

    Build it over a shared :class:`polyroute.Router` (``router=``), or let it build and own one
    from a config file path or dict (``config=``; then :meth:`close`/:meth:`aclose` release it).
    The routing options (``models``, ``provider``, ``session_id``, ``timeout``, ``user``,
    ``caller_key``, ``project``, ``tags``, ``caller_metadata``) apply to every call; a call may
    pass any of them (``caller_metadata`` as ``metadata``), or any Chat Completions parameter, as
    a keyword to replace the constructor's value for that call.

    Every response's ``raw`` is the OpenAI-shaped JSON with ``usage`` and ``route``;
    ``additional_kwargs`` has ``prompt_tokens``, ``completion_tokens``, ``total_tokens``,
    ``cost`` (``Decimal`` USD, ``None`` when unknown), ``provider`` and ``route`` (every attempt).
    Streams always ask for usage, so their last response carries the same.

    Example:
        ```python
        from llama_index.llms.polyroute import Polyroute

        llm = Polyroute(model="llama-3.3-70b", config="polyroute.yaml", models=["gpt-4o-mini"])
        resp = llm.complete("Say hi")
        print(resp.text, resp.additional_kwargs["provider"], resp.additional_kwargs["cost"])
        ```
    """

    model: str = Field(description="The model to route to, as named in polyroute's catalog.")
    temperature: float | None = Field(
        default=None, ge=0.0, le=2.0, description="Sampling temperature; the provider's default when unset."
    )
    max_tokens: int | None = Field(default=None, gt=0, description="The most tokens to generate.")
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Other Chat Completions parameters sent with every call."
    )
    models: list[str] = Field(
        default_factory=list,
        description="Fallback models tried in order after `model` (they replace the model's configured fallbacks).",
    )
    provider: dict[str, Any] | None = Field(default=None, description="Provider preferences for routing.")
    session_id: str | None = Field(default=None, description="Keeps a conversation's calls on one provider.")
    timeout: float | None = Field(default=None, gt=0, description="Overall deadline of a call, in seconds.")
    user: str | None = Field(default=None, description="The end user, sent upstream as OpenAI's `user`.")
    caller_key: str | None = Field(
        default=None, repr=False, exclude=True, description="The caller's key, for budgets and the ledger."
    )
    project: str | None = Field(default=None, description="The caller's project, for budgets and the ledger.")
    tags: list[str] = Field(default_factory=list, description="Tags recorded with every call.")
    caller_metadata: dict[str, Any] = Field(
        default_factory=dict, description="Caller metadata recorded with every call (never sent upstream)."
    )

    _router: Router = PrivateAttr()
    _owns_router: bool = PrivateAttr(default=False)

    def __init__(
        self,
        model: str,
        *,
        router: Router | None = None,
        config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        additional_kwargs: Mapping[str, Any] | None = None,
        models: Sequence[str] = (),
        provider: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        timeout: float | None = None,
        user: str | None = None,
        caller_key: str | None = None,
        project: str | None = None,
        tags: Sequence[str] = (),
        caller_metadata: Mapping[str, Any] | None = None,
        callback_manager: CallbackManager | None = None,
        system_prompt: str | None = None,
        messages_to_prompt: Callable[[Sequence[ChatMessage]], str] | None = None,
        completion_to_prompt: Callable[[str], str] | None = None,
        pydantic_program_mode: PydanticProgramMode = PydanticProgramMode.DEFAULT,
        output_parser: BaseOutputParser | None = None,
    ) -> None:
        if (router is None) == (config is None):
            raise ValueError("Polyroute needs exactly one of router= (a polyroute.Router) or config= (a path or dict)")
        for name, value in (("models", models), ("tags", tags)):
            if isinstance(value, str):
                raise TypeError(f"{name} must be a list of strings, not a string")
        super().__init__(
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            additional_kwargs=dict(additional_kwargs or {}),
            models=list(models),
            provider=dict(provider) if provider is not None else None,
            session_id=session_id,
            timeout=timeout,
            user=user,
            caller_key=caller_key,
            project=project,
            tags=list(tags),
            caller_metadata=dict(caller_metadata or {}),
            callback_manager=callback_manager,
            system_prompt=system_prompt,
            messages_to_prompt=messages_to_prompt,
            completion_to_prompt=completion_to_prompt,
            pydantic_program_mode=pydantic_program_mode,
            output_parser=output_parser,
        )
        if router is None:
            assert config is not None
            router = Router.from_config(config)
            self._owns_router = True
        self._router = router
        try:
            self._candidates()  # an unknown model or fallback fails here, not on the first call
        except Exception:
            self.close()
            raise

    @classmethod
    def class_name(cls) -> str:
        return "Polyroute_LLM"

    @property
    def router(self) -> Router:
        """The router every call goes through."""
        return self._router

    @property
    def metadata(self) -> LLMMetadata:
        """Derived from every endpoint that may serve a call (see :func:`routed_metadata`)."""
        return routed_metadata(self._candidates(), model=self.model, max_tokens=self.max_tokens)

    def _candidates(self) -> list[Endpoint]:
        return candidate_endpoints(self._router, self.model, models=self.models, provider=self.provider)

    # -- request building --------------------------------------------------------------------

    def _params(self, overrides: Mapping[str, Any], *, stream: bool) -> dict[str, Any]:
        """The call's parameters: constructor defaults, then ``additional_kwargs``, then ``overrides``.

        A ``None`` value means "not set" (so a call can unset a default).
        """
        params: dict[str, Any] = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "models": self.models or None,
            "provider": self.provider,
            "session_id": self.session_id,
            "timeout": self.timeout,
            "user": self.user,
            "caller_key": self.caller_key,
            "project": self.project,
            "tags": self.tags or None,
            "metadata": self.caller_metadata or None,
            **self.additional_kwargs,
            **overrides,
        }
        params = {k: v for k, v in params.items() if v is not None}
        if stream:  # the final chunk must carry usage for LlamaIndex's token counting
            params["stream_options"] = {**params.get("stream_options", {}), "include_usage": True}
        return params

    # -- undecorated calls: the decorated public methods each make exactly one of these ----------

    def _chat(self, messages: Sequence[ChatMessage], kwargs: Mapping[str, Any]) -> ChatResponse:
        resp = self._router.completion(self.model, to_wire_messages(messages), **self._params(kwargs, stream=False))
        return chat_response(resp)

    async def _achat(self, messages: Sequence[ChatMessage], kwargs: Mapping[str, Any]) -> ChatResponse:
        wire = to_wire_messages(messages)
        resp = await self._router.acompletion(self.model, wire, **self._params(kwargs, stream=False))
        return chat_response(resp)

    def _stream_chat(self, messages: Sequence[ChatMessage], kwargs: Mapping[str, Any]) -> ChatResponseGen:
        # the request is validated now; nothing is sent until the first chunk is asked for
        stream = self._router.completion(
            self.model, to_wire_messages(messages), stream=True, **self._params(kwargs, stream=True)
        )

        def gen() -> ChatResponseGen:
            assembler = ChatStreamAssembler()
            with stream:
                for chunk in stream:
                    yield assembler.add(chunk)

        return gen()

    async def _astream_chat(self, messages: Sequence[ChatMessage], kwargs: Mapping[str, Any]) -> ChatResponseAsyncGen:
        wire = to_wire_messages(messages)
        stream = await self._router.acompletion(self.model, wire, stream=True, **self._params(kwargs, stream=True))

        async def gen() -> ChatResponseAsyncGen:
            assembler = ChatStreamAssembler()
            async with stream:
                async for chunk in stream:
                    yield assembler.add(chunk)

        return gen()

    @staticmethod
    def _prompt_messages(prompt: str) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole.USER, content=prompt)]

    # -- LlamaIndex's LLM interface ----------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """A routed chat call."""
        return self._chat(messages, kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """A routed chat call (async)."""
        return await self._achat(messages, kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """A routed, streamed chat call: each response holds the message so far and the new ``delta``."""
        return self._stream_chat(messages, kwargs)

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        """A routed, streamed chat call (async)."""
        return await self._astream_chat(messages, kwargs)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """A routed completion: ``prompt`` is sent as one user message."""
        return completion_response(self._chat(self._prompt_messages(prompt), kwargs))

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """A routed completion (async)."""
        return completion_response(await self._achat(self._prompt_messages(prompt), kwargs))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        """A routed, streamed completion."""
        chats = self._stream_chat(self._prompt_messages(prompt), kwargs)

        def gen() -> CompletionResponseGen:
            for chat in chats:
                yield completion_response(chat)

        return gen()

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        """A routed, streamed completion (async)."""
        chats = await self._astream_chat(self._prompt_messages(prompt), kwargs)

        async def gen() -> CompletionResponseAsyncGen:
            async for chat in chats:
                yield completion_response(chat)

        return gen()

    # -- function calling --------------------------------------------------------------------

    def _prepare_chat_with_tools(  # noqa: PLR0917 (FunctionCallingLLM fixes this signature)
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The ``chat`` arguments for a call offering ``tools``.

        ``tool_choice`` may be ``"none"``, ``"auto"``, ``"required"``, a tool's name or an OpenAI
        tool-choice object; unset, it is ``"required"`` if ``tool_required`` else ``"auto"``.
        ``parallel_tool_calls`` is sent only to turn parallel calls off (on is the default).
        """
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            user_msg = ChatMessage(role=MessageRole.USER, content=user_msg)
        if user_msg is not None:
            messages.append(user_msg)
        prepared: dict[str, Any] = {"messages": messages, **kwargs}
        if tools:
            prepared["tools"] = [tool.metadata.to_openai_tool(skip_length_check=True) for tool in tools]
            prepared["tool_choice"] = _resolve_tool_choice(tool_choice, tool_required=tool_required)
            if not allow_parallel_tool_calls:
                prepared["parallel_tool_calls"] = False
        return prepared

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        """Without parallel tool calls, keep only the first call a provider made anyway."""
        if not allow_parallel_tool_calls:
            _keep_first_tool_call(response.message)
        return response

    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,
    ) -> list[ToolSelection]:
        """The tool calls in ``response`` (partial arguments of a streamed response parsed as far as they go)."""
        calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
        if not calls and error_on_no_tool_call:
            raise ValueError("expected at least one tool call in the response, got none")
        return [
            ToolSelection(tool_id=c.tool_call_id or "", tool_name=c.tool_name, tool_kwargs=_arguments(c.tool_kwargs))
            for c in calls
        ]


def _resolve_tool_choice(choice: str | dict[str, Any] | None, *, tool_required: bool) -> str | dict[str, Any]:
    if choice is None:
        return "required" if tool_required else "auto"
    if isinstance(choice, str) and choice not in _TOOL_CHOICE_WORDS:
        return {"type": "function", "function": {"name": choice}}
    return choice


def _keep_first_tool_call(message: ChatMessage) -> None:
    calls = [b for b in message.blocks if isinstance(b, ToolCallBlock)]
    if len(calls) <= 1:
        return
    message.blocks = [b for b in message.blocks if not isinstance(b, ToolCallBlock)] + [calls[0]]
    if message.additional_kwargs.get("tool_calls"):
        message.additional_kwargs["tool_calls"] = message.additional_kwargs["tool_calls"][:1]


def _arguments(raw: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not raw.strip():
        return {}
    try:
        value = parse_partial_json(raw)
    except (ValueError, JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}
