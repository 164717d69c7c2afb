"""Running an embeddings call: validate, split into batches, route each batch, reassemble.

Each batch is one routed call on the chat machinery: its own plan and
:class:`~polyroute.execution._execution.Execution` (retries, fail-over, breakers, budgets,
observers and the ledger) driven by the same engines, which see the provider backends through
:class:`_Embedder` (``complete`` sends an embeddings request). Every batch of a call shares the
call's request id. A batch's reply is checked here, whichever backend made it (one vector of
finite numbers per input, of the declared size; plausible token counts and cost), so that a wrong
one fails over like any malformed response, never as a raw exception.

Async calls send up to ``max_concurrency`` batches at once; sync calls send them one after the
other (no threads hidden inside a sync call).
"""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from polyroute._params import EmbeddingParams
from polyroute._request import Caller
from polyroute._types import Attempt, Route, Usage
from polyroute.adapters._embeddings import is_vector
from polyroute.adapters._sanity import check_usage, decoding
from polyroute.catalog._catalog import Catalog, Endpoint, ModelSpec, Timeouts
from polyroute.embeddings._batching import Limits, limits_of, split, token_counter
from polyroute.embeddings._types import Embedding, EmbeddingRequest, EmbeddingResponse, decode_base64, encode_base64
from polyroute.errors import InvalidRequest, MalformedResponse
from polyroute.execution import _engine

if TYPE_CHECKING:
    from polyroute._generation import Generation, ServedBackend
    from polyroute._router import Router
    from polyroute.execution._execution import Execution

__all__ = ["EmbeddingCall", "aembed", "embed", "prepare"]

_ENCODINGS = ("float", "base64")
#: the options an embeddings call takes after model and input
_OPTIONS = frozenset(EmbeddingParams.__annotations__)
_ANONYMOUS = Caller()


@dataclass(frozen=True, slots=True)
class EmbeddingCall:
    """A validated embeddings call: its texts, how they are batched, and what each batch carries."""

    texts: tuple[str, ...]
    slices: list[tuple[int, int]]
    models: tuple[str, ...]
    dimensions: int | None
    encoding_format: str | None
    params: Mapping[str, Any]
    provider: Mapping[str, Any] | None
    caller: Caller
    timeout: float | None
    request_id: str

    def batch(self, start: int, end: int) -> EmbeddingRequest:
        """The request of the batch ``texts[start:end]``."""
        texts = self.texts[start:end]
        return EmbeddingRequest(
            models=self.models,
            messages=[{"role": "user", "content": t} for t in texts],
            params=self.params,
            provider=self.provider,
            caller=self.caller,
            timeout=self.timeout,
            input=texts,
            dimensions=self.dimensions,
            encoding_format=self.encoding_format,
        )


def _texts(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    elif not isinstance(value, Sequence) or isinstance(value, (bytes, bytearray)):
        raise InvalidRequest(f"must be a string or a list of strings, got {type(value).__name__}", param="input")
    if not value:
        raise InvalidRequest("must not be empty", param="input")
    for i, text in enumerate(value):
        if not isinstance(text, str):
            raise InvalidRequest(
                f"must be a string (token arrays are not supported), got {type(text).__name__}", param=f"input[{i}]"
            )
        if not text:
            raise InvalidRequest("must not be an empty string", param=f"input[{i}]")
    return tuple(value)


def _names(model: Any, models: Any) -> tuple[str, ...]:
    names: list[str] = []
    if model is not None:
        if not isinstance(model, str) or not model:
            raise InvalidRequest("must be a non-empty string", param="model")
        names.append(model)
    if models is not None:
        if isinstance(models, str) or not all(isinstance(m, str) and m for m in models):
            raise InvalidRequest("must be a list of model names", param="models")
        names.extend(m for m in models if m not in names)
    if not names:
        raise InvalidRequest("give a model (or a models list)", param="model")
    return tuple(names)


def _specs(catalog: Catalog, names: tuple[str, ...], compatible: bool) -> list[ModelSpec]:
    """The embedding models of the call, the primary's configured fallbacks included; a list of
    several models only when the caller says their vectors are compatible."""
    specs: list[ModelSpec] = []
    for i, name in enumerate(names):
        param = "model" if i == 0 else f"models[{i - 1}]"
        spec = catalog.model(name)
        if spec is None:
            known = ", ".join(m.name for m in catalog.models.values() if m.kind == "embedding") or "none configured"
            raise InvalidRequest(f"unknown model {name!r} (embedding models: {known})", param=param)
        if spec.kind != "embedding":
            raise InvalidRequest(f"{name!r} is a chat model: call completion()/acompletion()", param=param)
        if spec not in specs:
            specs.append(spec)
    if len(specs) > 1 and not compatible:
        raise InvalidRequest(
            f"vectors of {specs[0].name!r} and {specs[1].name!r} are not interchangeable: an index built with one"
            " cannot be searched with the other. Fall back across models only if they are (compatible_vectors=True);"
            " fail-over between the providers of one model needs no list",
            param="models",
        )
    if len(names) == 1:
        specs += [s for f in specs[0].fallbacks if (s := catalog.model(f)) is not None and s not in specs]
    dims = {ep.embedding.dimensions for s in specs for ep in s.endpoints if ep.embedding and ep.embedding.dimensions}
    if len(dims) > 1:
        raise InvalidRequest(
            f"the models return vectors of different sizes {sorted(dims)}: they cannot be interchangeable",
            param="models",
        )
    return specs


def prepare(catalog: Catalog, model: Any, input: Any, options: Mapping[str, Any]) -> EmbeddingCall:
    """Validate an embeddings call (``options``: :class:`~polyroute.EmbeddingParams`) and cut it
    into batches (``InvalidRequest`` before anything is sent)."""
    unknown = options.keys() - _OPTIONS
    if unknown:
        raise TypeError(f"unexpected keyword argument {min(unknown)!r} (expected those of polyroute.EmbeddingParams)")
    models = options.get("models")
    dimensions = options.get("dimensions")
    encoding_format = options.get("encoding_format")
    provider = options.get("provider")
    user = options.get("user")
    caller_key = options.get("caller_key")
    project = options.get("project")
    tags = options.get("tags")
    metadata = options.get("metadata")
    timeout = options.get("timeout")
    names = _names(model, models)
    texts = _texts(input)
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1):
        raise InvalidRequest(f"must be a positive integer, got {dimensions!r}", param="dimensions")
    if encoding_format is not None and encoding_format not in _ENCODINGS:
        raise InvalidRequest(f"must be one of {list(_ENCODINGS)}, got {encoding_format!r}", param="encoding_format")
    if user is not None and not isinstance(user, str):
        raise InvalidRequest("must be a string", param="user")
    if provider is not None and not isinstance(provider, Mapping):
        raise InvalidRequest("must be an object of provider preferences", param="provider")
    if timeout is not None and (not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0):
        raise InvalidRequest(f"must be a positive number of seconds, got {timeout!r}", param="timeout")
    specs = _specs(catalog, names, options.get("compatible_vectors", False))
    limits: Limits = limits_of([ep for s in specs for ep in s.endpoints])
    params: dict[str, Any] = dict(options.get("extra_body") or {})
    if user is not None:
        params["user"] = user
    if user is None and caller_key is None and project is None and not tags and not metadata:
        caller = _ANONYMOUS
    else:
        caller = Caller(user=user, key=caller_key, project=project, tags=tuple(tags or ()), metadata=metadata or {})
    return EmbeddingCall(
        texts=texts,
        slices=split(texts, limits),
        models=names,
        dimensions=dimensions,
        encoding_format=encoding_format,
        params=params,
        provider=provider,
        caller=caller,
        timeout=timeout,
        request_id="pr-" + secrets.token_hex(12),
    )


# -- one batch ---------------------------------------------------------------------------------


def _bad(message: str) -> MalformedResponse:
    return MalformedResponse(message, status=200)


def _vector(item: Any, i: int) -> list[float]:
    """The floats of ``data[i]``; :class:`MalformedResponse` unless they are a non-empty vector of
    finite numbers (base64 float32 from a backend given to the router is decoded)."""
    if not isinstance(item, Embedding):
        raise _bad(f"data[{i}] is a {type(item).__name__}, not an Embedding")
    vector = item.embedding
    if isinstance(vector, str):
        try:
            vector = item.embedding = decode_base64(vector)
        except ValueError as exc:  # binascii.Error included
            raise _bad(f"data[{i}].embedding is not base64 float32") from exc
    elif not is_vector(vector):
        raise _bad(f"data[{i}].embedding is not a vector of numbers")
    if not vector:
        raise _bad(f"data[{i}].embedding is empty")
    if not math.isfinite(sum(vector)):  # one pass in C: NaN or an infinity anywhere (or absurd values)
        raise _bad(f"data[{i}].embedding holds a value that is not a finite number")
    return vector


def check(resp: EmbeddingResponse, endpoint: Endpoint, request: EmbeddingRequest) -> EmbeddingResponse:
    """``resp`` if it is a real reply to ``request``: one vector per input, each a non-empty vector
    of finite numbers of the expected size (the size asked for, else the endpoint's declared one,
    else the size of the first), and a usage with plausible token counts and cost (as for chat);
    :class:`MalformedResponse` otherwise, whatever the backend returned, so the batch fails over.
    Missing usage is estimated (and marked so)."""
    if not isinstance(resp, EmbeddingResponse):
        raise _bad(f"the backend returned a {type(resp).__name__}, not an EmbeddingResponse")
    data = resp.data
    if not isinstance(data, list):
        raise _bad("data is not a list")
    n = len(request.input)
    if len(data) != n:
        raise _bad(f"{len(data)} vectors for {n} inputs")
    expected = request.dimensions
    if expected is None and endpoint.embedding is not None:
        expected = endpoint.embedding.dimensions
    with decoding("embeddings response"):
        for i, item in enumerate(data):
            size = len(_vector(item, i))
            if expected is None:
                expected = size
            elif size != expected:
                raise _bad(f"a {size}-dimensional vector where {expected} were expected")
        if not isinstance(resp.model, str):
            raise _bad("model is not text")
        usage = resp.usage
        if usage is None:
            count = token_counter((endpoint,), exact=True)
            tokens = sum(count(t) for t in request.input)
            resp.usage = Usage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens, estimated=True)
        elif not isinstance(usage, Usage):
            raise _bad(f"usage is a {type(usage).__name__}, not a Usage")
        else:
            check_usage(usage)
    return resp


class _Embedder:
    """A provider backend as the engines see it: ``complete`` sends one embeddings batch."""

    __slots__ = ("_backend",)

    def __init__(self, backend: ServedBackend) -> None:
        self._backend = backend

    def _embeds(self) -> Any:
        if not hasattr(self._backend, "embed"):  # a backend given to the router may answer chat only
            raise TypeError(f"this provider's backend ({type(self._backend).__name__}) has no embeddings")
        return self._backend

    def complete(self, endpoint: Endpoint, request: EmbeddingRequest, timeouts: Timeouts) -> EmbeddingResponse:
        return check(self._embeds().embed(endpoint, request, timeouts), endpoint, request)

    async def acomplete(self, endpoint: Endpoint, request: EmbeddingRequest, timeouts: Timeouts) -> EmbeddingResponse:
        return check(await self._embeds().aembed(endpoint, request, timeouts), endpoint, request)


def _embedders(generation: Generation) -> Any:
    backend = generation.backend
    return lambda name: _Embedder(backend(name))


# -- the call ------------------------------------------------------------------------------------


def embed(router: Router, generation: Generation, call: EmbeddingCall) -> EmbeddingResponse:
    """Run the call's batches one after the other."""
    started = router.clock.monotonic()
    backend_for = _embedders(generation)
    results = []
    for start, end in call.slices:
        execution = router._execution(call.batch(start, end), generation, request_id=call.request_id)
        results.append(cast(EmbeddingResponse, _engine.complete(execution, backend_for, router.clock)))
    return _assemble(call, results, router.clock.monotonic() - started)


async def aembed(
    router: Router, generation: Generation, call: EmbeddingCall, max_concurrency: int
) -> EmbeddingResponse:
    """Run the call's batches, up to ``max_concurrency`` at once; the first batch that fails for
    good cancels the others and its error is raised."""
    started = router.clock.monotonic()
    backend_for = _embedders(generation)
    clock = router.clock

    def execution(start: int, end: int) -> Execution:
        return router._execution(call.batch(start, end), generation, request_id=call.request_id)

    if len(call.slices) == 1:
        start, end = call.slices[0]
        resp = await _engine.acomplete(execution(start, end), backend_for, clock)
        return _assemble(call, [cast(EmbeddingResponse, resp)], clock.monotonic() - started)
    gate = asyncio.Semaphore(max_concurrency)

    async def one(start: int, end: int) -> EmbeddingResponse:
        async with gate:
            return cast(EmbeddingResponse, await _engine.acomplete(execution(start, end), backend_for, clock))

    tasks = [asyncio.ensure_future(one(s, e)) for s, e in call.slices]
    try:
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    if pending:  # one failed: stop the others
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    for t in tasks:  # the first failure in input order
        if t.done() and not t.cancelled() and t.exception() is not None:
            raise cast(BaseException, t.exception())
    return _assemble(call, [t.result() for t in tasks], clock.monotonic() - started)


def _assemble(call: EmbeddingCall, batches: list[EmbeddingResponse], latency: float) -> EmbeddingResponse:
    """One response from the batches' (in order): vectors re-indexed, usage and cost summed."""
    base64 = call.encoding_format == "base64"
    data: list[Embedding] = []
    size: int | None = None
    for resp in batches:
        for item in resp.data:
            vector = item.embedding
            if size is None:
                size = len(vector)
            elif len(vector) != size:  # only when no size is declared and endpoints disagree
                raise MalformedResponse(f"batches returned vectors of {size} and {len(vector)} dimensions", status=200)
            data.append(Embedding(index=len(data), embedding=encode_base64(vector) if base64 else vector))  # type: ignore[arg-type]
    routes = [r.route for r in batches if r.route is not None]
    tokens = sum(r.usage.prompt_tokens for r in batches if r.usage is not None)
    usage = Usage(
        prompt_tokens=tokens,
        completion_tokens=0,
        total_tokens=tokens,
        estimated=any(r.usage is not None and r.usage.estimated for r in batches),
    )
    first = routes[0]
    return EmbeddingResponse(
        data=data,
        model=batches[0].model,
        usage=usage,
        route=_route(first, routes, usage, latency) if len(routes) > 1 else first,
        batches=routes,
    )


def _route(first: Route, routes: list[Route], usage: Usage, latency: float) -> Route:
    attempts: list[Attempt] = [a for r in routes for a in r.attempts]
    costs = [r.cost for r in routes]
    fees = [r.fee for r in routes if r.fee is not None]
    return Route(
        request_id=first.request_id,
        model=first.model,
        provider=first.provider,
        endpoint_model=first.endpoint_model,
        attempts=attempts,
        cost=None if any(c is None for c in costs) else sum((c for c in costs if c is not None), Decimal(0)),
        usage=usage,
        latency_s=latency,
        fee=sum(fees, Decimal(0)) if fees else None,
    )
