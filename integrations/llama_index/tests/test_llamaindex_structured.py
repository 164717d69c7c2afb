"""Structured prediction into a pydantic model, through tool calls or, without tools, through JSON text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llama_index.core.prompts import PromptTemplate
from polyroute import Router
from polyroute.testing import FunctionBehavior, RecordedRequest, Reply, SimulatedProvider, ToolCallSpec
from pydantic import BaseModel

from llama_index.llms.polyroute import Polyroute

PROMPT = PromptTemplate("Extract the city from: {text}")
TEXT = "I flew to Lyon, population 522000."


class City(BaseModel):
    """A city and its population."""

    name: str
    population: int


def _extract(request: RecordedRequest) -> Reply:
    """Answer the extraction with a call to the offered tool, built from the prompt's text."""
    body = request.json
    assert body is not None
    [tool] = body["tools"]
    assert tool["function"]["name"] == "City"
    assert set(tool["function"]["parameters"]["properties"]) == {"name", "population"}
    assert TEXT in request.messages[-1]["content"]
    return Reply(tool_calls=[ToolCallSpec(name="City", arguments={"name": "Lyon", "population": 522000})], chunk_size=5)


def _sent(provider: SimulatedProvider) -> dict[str, Any]:
    body = provider.requests[-1].json
    assert body is not None
    return body


def test_structured_predict(llm: Polyroute, alpha: SimulatedProvider) -> None:
    alpha.set_default(FunctionBehavior(_extract))

    city = llm.structured_predict(City, PROMPT, text=TEXT)

    assert city == City(name="Lyon", population=522000)
    assert alpha.errors == []
    assert _sent(alpha)["tool_choice"] == "required"


@pytest.mark.asyncio
async def test_astructured_predict(allm: Polyroute, alpha: SimulatedProvider) -> None:
    alpha.set_default(FunctionBehavior(_extract))

    city = await allm.astructured_predict(City, PROMPT, text=TEXT)

    assert city == City(name="Lyon", population=522000)
    assert alpha.errors == []
    assert _sent(alpha)["tool_choice"] == "required"


def test_stream_structured_predict_ends_with_the_whole_object(llm: Polyroute, alpha: SimulatedProvider) -> None:
    alpha.set_default(FunctionBehavior(_extract))

    partials = list(llm.stream_structured_predict(City, PROMPT, text=TEXT))

    assert len(partials) > 1
    final = partials[-1]
    assert isinstance(final, BaseModel)
    assert final.model_dump() == {"name": "Lyon", "population": 522000}
    assert alpha.errors == []
    assert len(alpha.requests) == 1


def test_without_tool_support_the_json_is_read_from_text(router: Router, beta: SimulatedProvider) -> None:
    llm = Polyroute(model="no-tools-model", router=router)
    assert llm.metadata.is_function_calling_model is False
    beta.set_default(Reply(text=json.dumps({"name": "Lyon", "population": 522000})))

    city = llm.structured_predict(City, PROMPT, text=TEXT)

    assert city == City(name="Lyon", population=522000)
    assert "tools" not in _sent(beta)
