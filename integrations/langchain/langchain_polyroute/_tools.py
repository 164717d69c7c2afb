"""Tools in the OpenAI shape, and LangChain's ``tool_choice`` vocabulary mapped onto OpenAI's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

__all__ = ["ToolChoice", "ToolLike", "format_tools", "tool_choice_param"]

ToolLike = dict[str, Any] | type | Callable[..., Any] | BaseTool
"""Anything ``bind_tools`` accepts: an OpenAI tool dict, a pydantic/TypedDict class, a function, a tool."""

ToolChoice = str | dict[str, Any] | bool
"""``"auto"``, ``"none"``, ``"any"``/``"required"``, a tool name, an OpenAI choice dict, or ``True``."""


def format_tools(tools: Sequence[ToolLike], *, strict: bool | None = None) -> list[dict[str, Any]]:
    """The OpenAI ``tools`` list for ``tools``."""
    return [convert_to_openai_tool(t, strict=strict) for t in tools]


def _names(tools: Sequence[dict[str, Any]]) -> list[str]:
    return [t["function"]["name"] for t in tools if t.get("type", "function") == "function"]


def _named(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def tool_choice_param(choice: ToolChoice, tools: Sequence[dict[str, Any]]) -> str | dict[str, Any] | None:
    """OpenAI's ``tool_choice`` for LangChain's ``choice``; ``None`` when nothing is forced.

    ``"any"`` and ``"required"`` force some tool; ``True`` forces the only tool (or some tool when
    there are several); a tool's name forces that tool. Raises :class:`ValueError` for a name that
    is not among ``tools``.
    """
    names = _names(tools)
    if choice is False:
        return None
    if choice is True:
        return _named(names[0]) if len(names) == 1 else "required"
    if isinstance(choice, dict):
        return choice
    if choice in ("any", "required"):
        return "required"
    if choice in ("auto", "none"):
        return choice
    if choice not in names:
        raise ValueError(f"tool_choice {choice!r} is not among the bound tools {names}")
    return _named(choice)
