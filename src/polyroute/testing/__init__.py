"""Test LLM-calling code against simulated providers over real HTTP.

:class:`ProviderSimulator` runs a real HTTP server on ``127.0.0.1`` that speaks the OpenAI Chat
Completions wire format (JSON bodies and SSE streams). Each provider added to it is scripted per
request with behaviours: replies, HTTP errors, dropped or truncated streams, in-band stream
errors, broken JSON, hangs, stalls, continuations of a prefilled answer, or a function deciding
per request. Nothing is mocked: the code under
test talks to the simulator over loopback exactly as it would to the real API.

::

    from polyroute.testing import ErrorReply, ProviderSimulator, Reply

    with ProviderSimulator() as sim:
        groq = sim.add_provider("groq", api_key="sk-sim")
        groq.enqueue(ErrorReply(503, retry_after=1), Reply(text="ok"))
        ...  # call groq.base_url + "/chat/completions"
        assert len(groq.requests) == 2

Pass ``ProviderSimulator(clock=FakeClock())`` (and the same clock to the code under test) to make
simulated latencies advance fake time instead of sleeping.

Where no socket is needed, :class:`FunctionBackend` answers a provider in process: a function
gets each attempt (a :class:`ProviderCall`) and returns the answer, raises a
:class:`~polyroute.errors.ProviderError`, or yields a stream piece by piece::

    from polyroute.testing import FunctionBackend

    config = {"providers": {"alpha": {"api": "custom"}}, "models": {...}}
    router = Router.from_config(config, backends={"alpha": FunctionBackend(lambda call: "hi")})
"""

from __future__ import annotations

from polyroute.testing import _behaviors
from polyroute.testing._behaviors import *  # noqa: F403  (every behaviour: _behaviors.__all__)
from polyroute.testing._clock import FakeClock
from polyroute.testing._embeddings import embedding_vector
from polyroute.testing._function import FunctionBackend, ProviderCall
from polyroute.testing._provider import SimulatedProvider
from polyroute.testing._recorded import Headers, RecordedRequest
from polyroute.testing._server import ProviderSimulator

__all__ = [
    "FakeClock",
    "FunctionBackend",
    "Headers",
    "ProviderCall",
    "ProviderSimulator",
    "RecordedRequest",
    "SimulatedProvider",
    "embedding_vector",
]
__all__ += _behaviors.__all__
