"""``with_structured_output``: each method sends its own kind of request.

- ``function_calling``: the schema as the only tool, forced with ``tool_choice``; the output is
  parsed from the tool call's arguments.
- ``json_schema``: ``response_format={"type": "json_schema", ...}`` (OpenAI structured outputs);
  the output is parsed from the message text.
- ``json_mode``: ``response_format={"type": "json_object"}``; the prompt must describe the JSON.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Literal, Protocol

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import JsonOutputKeyToolsParser, PydanticToolsParser
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_openai_function, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass

__all__ = ["Method", "Schema", "json_schema_format", "structured_runnable"]

Method = Literal["function_calling", "json_schema", "json_mode"]
"""How ``with_structured_output`` asks the model for structure."""

Schema = dict[str, Any] | type


class _Bindable(Protocol):
    def bind(self, **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]: ...

    def bind_tools(
        self, tools: Any, *, tool_choice: Any = ..., strict: bool | None = ..., **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]: ...


def _is_pydantic(schema: Schema | None) -> bool:
    return isinstance(schema, type) and is_basemodel_subclass(schema)


def json_schema_format(schema: Schema, *, strict: bool | None) -> dict[str, Any]:
    """The ``response_format`` for OpenAI structured outputs from a pydantic/TypedDict class or a schema."""
    function = convert_to_openai_function(schema, strict=strict)
    spec: dict[str, Any] = {"name": function["name"], "schema": function["parameters"]}
    if function.get("description"):
        spec["description"] = function["description"]
    if strict is not None:
        spec["strict"] = strict
    return {"type": "json_schema", "json_schema": spec}


def _tool_parser(schema: Schema) -> Runnable[Any, Any]:
    if _is_pydantic(schema):
        assert isinstance(schema, type)
        return PydanticToolsParser(tools=[schema], first_tool_only=True)
    name = convert_to_openai_tool(schema)["function"]["name"]
    return JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)


def _text_parser(schema: Schema | None) -> Runnable[Any, Any]:
    if _is_pydantic(schema):
        return PydanticOutputParser(pydantic_object=schema)  # type: ignore[arg-type]
    return JsonOutputParser()


def structured_runnable(
    model: _Bindable,
    schema: Schema | None,
    *,
    method: Method,
    include_raw: bool,
    strict: bool | None,
) -> Runnable[LanguageModelInput, Any]:
    """``model`` bound for ``method`` and piped into the matching parser."""
    # what LangSmith and callbacks see as ``ls_structured_output_format`` (LangChain pops it before the call)
    trace: dict[str, Any] = {}
    if schema is not None:
        trace["ls_structured_output_format"] = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
    llm: Runnable[LanguageModelInput, AIMessage]
    parser: Runnable[Any, Any]
    if method == "function_calling":
        if schema is None:
            raise ValueError("with_structured_output(method='function_calling') needs a schema")
        tool = convert_to_openai_tool(schema, strict=strict)
        llm = model.bind_tools([tool], tool_choice=tool["function"]["name"], strict=strict, **trace)
        parser = _tool_parser(schema)
    elif method == "json_schema":
        if schema is None:
            raise ValueError("with_structured_output(method='json_schema') needs a schema")
        llm = model.bind(response_format=json_schema_format(schema, strict=strict), **trace)
        parser = _text_parser(schema)
    elif method == "json_mode":
        llm = model.bind(response_format={"type": "json_object"}, **trace)
        parser = _text_parser(schema)
    else:
        raise ValueError(f"method must be 'function_calling', 'json_schema' or 'json_mode', got {method!r}")
    if not include_raw:
        return llm | parser
    parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
    failed = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=llm) | parsed.with_fallbacks([failed], exception_key="parsing_error")
