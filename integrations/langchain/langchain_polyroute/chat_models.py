"""``ChatPolyroute``: a LangChain chat model whose every call is routed by polyroute."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Self

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LangSmithParams, LanguageModelInput
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.load.serializable import SerializedConstructor, SerializedNotImplemented
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, model_validator

from langchain_polyroute._messages import to_openai_messages
from langchain_polyroute._options import REQUEST_PARAMS, router_params
from langchain_polyroute._results import MODEL_PROVIDER, ChunkConverter, chat_result, combine_llm_outputs
from langchain_polyroute._routed import Routed
from langchain_polyroute._structured import Method, Schema, structured_runnable
from langchain_polyroute._tools import ToolChoice, ToolLike, format_tools, tool_choice_param

__all__ = ["ChatPolyroute"]

#: options of OpenAI-client chat models that have a different home in polyroute
_CLIENT_OPTIONS = {
    "api_key": "ChatPolyroute takes no api_key: each provider's key is an ${ENV} reference in the polyroute config",
    "max_retries": (
        "ChatPolyroute takes no max_retries: retries per endpoint are set in the polyroute config "
        "(router.retry.max_retries), and failover to other providers comes on top"
    ),
}


class ChatPolyroute(Routed, BaseChatModel):
    """Chat model that routes every call through a :class:`polyroute.Router`.

    polyroute picks a provider for each call, fails over when one breaks, and records what the
    call cost. Swap it in for any LangChain chat model: prompts, tools, structured output,
    streaming, agents and LangGraph work unchanged.

    Setup:
        Install ``langchain-polyroute`` and describe your providers and models in a polyroute
        config (YAML path or dict; API keys only as ``${ENV_VAR}`` references).

        ```bash
        pip install -U langchain-polyroute
        export POLYROUTE_CONFIG=polyroute.yaml   # optional: the default for config=
        ```

    Key init args — routing:
        model: str
            The polyroute model name to call (a model in the config).
        router: polyroute.Router | None
            A router to share (its pools, circuit breakers and observers). Or:
        config: str | dict | None
            A polyroute config (YAML path or dict) to build a router from. Defaults to the
            ``POLYROUTE_CONFIG`` environment variable.
        models: list[str] | None
            Fallback models to try, in order, after ``model``.
        provider: dict | None
            Provider preferences (OpenRouter's ``provider`` object).
        caller_key, project, caller_tags, caller_metadata, user, session_id:
            Who is calling, for budgets and the ledger (``caller_tags`` and
            ``caller_metadata`` are polyroute's ``tags`` and ``metadata``; LangChain's own
            ``tags``/``metadata`` stay for tracing).
        timeout: float | None
            Overall deadline of a call in seconds, failovers included.

    Key init args — completion params:
        temperature, top_p, max_tokens, max_completion_tokens, stop, seed, n,
        presence_penalty, frequency_penalty, logit_bias, logprobs, top_logprobs,
        reasoning_effort, extra_body (provider-specific request fields).

    Every routing option and completion param can also be given per call, overriding the
    value above: ``model.invoke(msgs, models=["backup"], caller_key="team-a")`` or
    ``model.bind(caller_tags=["batch"])``. ``model=`` per call picks another model.

    Instantiate:
        ```python
        from langchain_polyroute import ChatPolyroute

        model = ChatPolyroute(model="llama-3.3-70b", config="polyroute.yaml", temperature=0)
        ```

    Invoke:
        ```python
        msg = model.invoke([("human", "Translate 'I love programming' into French.")])
        msg.response_metadata["provider"]  # the provider that served the call
        msg.response_metadata["cost"]  # exact USD, a decimal string
        ```

    Stream:
        ```python
        for chunk in model.stream("Tell me a joke"):
            print(chunk.text, end="")
        ```

        Usage, ``model_name``, the route and the cost arrive once, on the final chunk.

    Tool calling:
        ```python
        model_with_tools = model.bind_tools([get_weather], tool_choice="any")
        model_with_tools.invoke("What's the weather in Paris?").tool_calls
        ```

    Structured output:
        ```python
        model.with_structured_output(Joke)  # tool calling (default)
        model.with_structured_output(Joke, method="json_schema")  # response_format json_schema
        model.with_structured_output(Joke, method="json_mode")  # response_format json_object
        ```

    Response metadata:
        ``model_name`` (the model that served the call, after any fallback),
        ``model_provider`` (``"polyroute"``), ``provider``, ``endpoint_model``, ``finish_reason``,
        ``request_id``, ``attempts`` (every try, failed ones included), ``fallbacks`` and ``cost``.
    """

    session_id: str | None = None
    """Sticky-routing session id."""

    temperature: float | None = None
    """Sampling temperature."""
    top_p: float | None = None
    """Nucleus sampling mass."""
    max_tokens: int | None = None
    """Maximum number of tokens to generate."""
    max_completion_tokens: int | None = None
    """Maximum number of tokens to generate, reasoning included (newer OpenAI models)."""
    stop: list[str] | str | None = None
    """Default stop sequences."""
    seed: int | None = None
    """Sampling seed."""
    n: int | None = None
    """Number of choices to generate (1 when streaming)."""
    presence_penalty: float | None = None
    """Penalty for tokens already present."""
    frequency_penalty: float | None = None
    """Penalty proportional to token frequency."""
    logit_bias: dict[str, float] | None = None
    """Token id to bias."""
    logprobs: bool | None = None
    """Whether to return log probabilities."""
    top_logprobs: int | None = None
    """How many top log probabilities to return per token."""
    reasoning_effort: str | None = None
    """Reasoning effort for reasoning models (``"low"``, ``"medium"``, ``"high"``...)."""
    extra_body: dict[str, Any] | None = None
    """Provider-specific fields added to the request body."""
    streaming: bool = False
    """Whether ``invoke`` streams under the hood (callbacks then see every token)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    @model_validator(mode="before")
    @classmethod
    def _explain_client_options(cls, values: Any) -> Any:
        if isinstance(values, dict):
            for name, why in _CLIENT_OPTIONS.items():
                if name in values:
                    raise ValueError(why)
        return values

    @model_validator(mode="after")
    def _connect(self) -> Self:
        if self.n is not None and self.n > 1 and self.streaming:
            raise ValueError("n must be 1 when streaming")
        catalog = self._connect_router()
        for name in (self.model, *(self.models or ())):
            if catalog.model(name) is None:
                raise self._refuse(f"unknown model {name!r}; the router's models are {sorted(catalog.models)}")
        return self

    # -- LangChain identity ---------------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "polyroute-chat"

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """Models built from a config serialize (the config holds no secrets, only ``${ENV}`` refs)."""
        return True

    def to_json(self) -> SerializedConstructor | SerializedNotImplemented:
        """Serialized constructor arguments; a model built around a live ``router=`` cannot be serialized."""
        if self.router is not None:
            return self.to_json_not_implemented()
        return super().to_json()

    def _defaults(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _DEFAULT_PARAMS}

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, **{k: v for k, v in self._defaults().items() if v is not None}}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        model = kwargs.get("model")
        params = LangSmithParams(
            ls_provider=MODEL_PROVIDER,
            ls_model_name=model if isinstance(model, str) else self.model,
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if isinstance(temperature, (int, float)):
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if isinstance(max_tokens, int):
            params["ls_max_tokens"] = max_tokens
        stops = stop or kwargs.get("stop") or self.stop
        if stops:
            params["ls_stop"] = [stops] if isinstance(stops, str) else list(stops)
        return params

    def _combine_llm_outputs(self, llm_outputs: list[dict[str, Any] | None]) -> dict[str, Any]:
        return combine_llm_outputs(llm_outputs)

    # -- calls ----------------------------------------------------------------------------------

    def _call(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        params = router_params(self._defaults(), kwargs, stop)
        params["model"] = params.get("model", self.model)
        params["messages"] = to_openai_messages(messages)
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        resp = self._router.completion(stream=False, **self._call(messages, stop, kwargs))
        return chat_result(resp)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        resp = await self._router.acompletion(stream=False, **self._call(messages, stop, kwargs))
        return chat_result(resp)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        converter = ChunkConverter()
        with self._router.completion(stream=True, **self._call(messages, stop, kwargs)) as stream:
            for chunk in stream:
                out = converter.convert(chunk)
                if run_manager is not None:
                    run_manager.on_llm_new_token(out.text, chunk=out)
                yield out

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        converter = ChunkConverter()
        stream = await self._router.acompletion(stream=True, **self._call(messages, stop, kwargs))
        async with stream:
            async for chunk in stream:
                out = converter.convert(chunk)
                if run_manager is not None:
                    await run_manager.on_llm_new_token(out.text, chunk=out)
                yield out

    # -- tools and structured output ------------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[ToolLike],
        *,
        tool_choice: ToolChoice | None = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (functions, pydantic/TypedDict classes, ``BaseTool``s or OpenAI tool dicts).

        ``tool_choice``: ``"auto"``, ``"none"``, ``"any"``/``"required"`` (force some tool), a tool
        name (force that tool), ``True`` (force the only tool) or an OpenAI ``tool_choice`` dict.
        ``strict`` asks for schema-exact arguments; ``parallel_tool_calls=False`` for one call at a
        time. Other keywords are bound as call parameters.
        """
        formatted = format_tools(tools, strict=strict)
        if tool_choice is not None:
            choice = tool_choice_param(tool_choice, formatted)
            if choice is not None:
                kwargs["tool_choice"] = choice
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: Schema | None = None,
        *,
        method: Method = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """A runnable returning output shaped by ``schema`` (pydantic class, TypedDict or JSON Schema).

        ``method`` picks the request: ``"function_calling"`` (the schema as a forced tool; the
        default, supported by most providers), ``"json_schema"`` (``response_format`` of type
        ``json_schema``) or ``"json_mode"`` (``response_format`` of type ``json_object``; describe
        the JSON in the prompt; ``schema`` optional). A pydantic ``schema`` gives pydantic
        objects, anything else dicts. With ``include_raw=True`` the result is
        ``{"raw": AIMessage, "parsed": ..., "parsing_error": ...}``.
        """
        if kwargs:
            raise ValueError(f"Received unsupported arguments {kwargs}")
        return structured_runnable(self, schema, method=method, include_raw=include_raw, strict=strict)


#: model fields sent with every call unless the call overrides them: those that are request parameters
_DEFAULT_PARAMS = tuple(name for name in ChatPolyroute.model_fields if name in REQUEST_PARAMS)
