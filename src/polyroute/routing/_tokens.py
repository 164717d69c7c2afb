"""How many tokens a prompt is, before sending it: a fast bound always, tiktoken when it matters.

:class:`PromptSize` measures a request once (UTF-8 bytes of its text, messages, images, tools)
and gives two cheap bounds: ``upper`` (about one token per 3 bytes, what routing uses for prices
and to decide whether a prompt surely fits) and ``lower`` (one per 10 bytes; a prompt whose
lower bound does not fit surely does not). Only when a context decision falls between the two
is the prompt counted exactly with the endpoint's tiktoken encoding — known from the endpoint's
``tokenizer`` (an encoding or OpenAI model name) or its model id — and the count is cached for
the request. Budgets reserve against a third, ``ceiling``: one token per UTF-8 byte of every field
the model reads, and 1,600 tokens an image. A byte-level BPE token (tiktoken's, and SentencePiece
with byte fallback) covers at least one byte, so no prompt can exceed it.

tiktoken is optional and imported on first need, never by ``import polyroute``. Its BPE files
are never downloaded: they are read from the directories :func:`tokenizer_dirs` lists, in order
— ``POLYROUTE_TOKENIZER_DIR`` (ours), tiktoken's own cache (``TIKTOKEN_CACHE_DIR``,
``DATA_GYM_CACHE_DIR``, the system temp dir), and last the offline copies the packages in
:data:`PACKAGED_BPE_DIRS` ship (found without importing them; ``POLYROUTE_TOKENIZER_PACKAGES=0``
turns that off) — and checked against their published SHA-256. Without an encoding the bounds are
all there is.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["PACKAGED_BPE_DIRS", "PromptSize", "encoding_for", "tokenizer_dirs"]

#: tokens added per message by chat formats (role, separators), and to prime the reply
PER_MESSAGE = 4
PRIMING = 3
#: an image counted as this many tokens in the upper bound (and in exact counts), this many in the lower
IMAGE_UPPER = 1024
IMAGE_LOWER = 85
UPPER_BYTES_PER_TOKEN = 3
LOWER_BYTES_PER_TOKEN = 10
#: the budget ceiling: a token covers at least one byte, so bytes bound tokens whatever the text
#: (prose averages 3 to 4 bytes a token: the ceiling over-reserves, never under-reserves); an image
#: as many tokens as any major provider counts for one
CEILING_BYTES_PER_TOKEN = 1
IMAGE_CEILING = 1600
_IMAGE_TYPES = ("image_url", "input_image")
#: message fields besides content and tool calls that reach the model (counted in the ceiling only)
_OTHER_FIELDS = ("function_call", "name", "tool_call_id")

_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
_R50K_PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|"""
    r"""\s+(?!\S)|\s"""
)
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
#: name -> (pattern, special tokens, SHA-256 of the published BPE file)
_ENCODINGS: dict[str, tuple[str, dict[str, int], str]] = {
    "o200k_base": (
        _O200K_PAT,
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        _CL100K_PAT,
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "p50k_base": (
        _R50K_PAT,
        {"<|endoftext|>": 50256},
        "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
    ),
    "r50k_base": (
        _R50K_PAT,
        {"<|endoftext|>": 50256},
        "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    ),
}

_lock = threading.Lock()
_loaded: dict[str, Any] = {}  # encoding name -> tiktoken.Encoding | None (unavailable)
_by_model: dict[str, str | None] = {}  # tokenizer/model name -> encoding name | None


#: installed packages known to ship tiktoken's BPE files for offline use, and the folder inside
#: each: the last place :func:`tokenizer_dirs` looks (the packages are located, never imported)
PACKAGED_BPE_DIRS: tuple[tuple[str, str], ...] = (
    ("litellm", "litellm_core_utils/tokenizers"),
    ("llama_index", "core/_static/tiktoken_cache"),
)


def tokenizer_dirs(env: Mapping[str, str] | None = None) -> list[tuple[str, Path]]:
    """Where tiktoken's BPE files are looked for, in order, each with the setting or package
    that put it there: ``POLYROUTE_TOKENIZER_DIR``, ``TIKTOKEN_CACHE_DIR``,
    ``DATA_GYM_CACHE_DIR``, tiktoken's default cache in the temp dir, then the packages of
    :data:`PACKAGED_BPE_DIRS` that are installed (unless ``POLYROUTE_TOKENIZER_PACKAGES=0``)."""
    import importlib.util
    import tempfile

    env = os.environ if env is None else env
    found = [(var, Path(env[var])) for var in _DIR_VARIABLES if env.get(var)]
    found.append(("temp dir", Path(tempfile.gettempdir()) / "data-gym-cache"))
    if env.get("POLYROUTE_TOKENIZER_PACKAGES", "1").strip().lower() in ("0", "false", "no", "off"):
        return found
    for package, sub in PACKAGED_BPE_DIRS:
        try:
            spec = importlib.util.find_spec(package)  # locates without importing the package
        except (ImportError, ValueError):
            continue
        for root in (spec.submodule_search_locations or []) if spec else []:
            found.append((package, Path(root) / sub))
    return found


_DIR_VARIABLES = ("POLYROUTE_TOKENIZER_DIR", "TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")


def _bpe_ranks(name: str, sha256: str) -> dict[bytes, int] | None:
    import base64
    import hashlib

    filename = hashlib.sha1(_URL.format(name).encode()).hexdigest()
    for _, directory in tokenizer_dirs():
        path = directory / filename
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if hashlib.sha256(data).hexdigest() != sha256:
            continue
        ranks: dict[bytes, int] = {}
        for line in data.splitlines():
            if line:
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
        return ranks
    return None


def _load(name: str) -> Any:
    spec = _ENCODINGS.get(name)
    if spec is None:
        return None
    try:
        import tiktoken
    except ImportError:
        return None
    pattern, special, sha256 = spec
    ranks = _bpe_ranks(name, sha256)
    if ranks is None:
        return None
    return tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=special)


def _encoding_name(tokenizer: str) -> str | None:
    if tokenizer in _ENCODINGS:
        return tokenizer
    name = _by_model.get(tokenizer, "")
    if name != "":
        return name
    try:
        from tiktoken.model import encoding_name_for_model

        name = encoding_name_for_model(tokenizer.rpartition("/")[2])
    except (ImportError, KeyError):
        name = None
    _by_model[tokenizer] = name
    return name


def encoding_for(tokenizer: str | None) -> Any:
    """The tiktoken ``Encoding`` for an encoding or OpenAI model name, or ``None`` if unknown or
    unavailable offline. Loaded once per process."""
    if not tokenizer:
        return None
    name = _encoding_name(tokenizer)
    if name is None:
        return None
    if name in _loaded:
        return _loaded[name]
    with _lock:
        if name not in _loaded:
            _loaded[name] = _load(name)
    return _loaded[name]


def _text_bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _json_bytes(value: Any) -> int:
    return _text_bytes(_json_text(value))


class PromptSize:
    """One request's prompt, measured once: cheap bounds, exact counts on demand."""

    __slots__ = ("_exact", "_messages", "_tools", "images", "lower", "messages", "text_bytes", "tool_bytes", "upper")

    def __init__(self, messages: Sequence[Mapping[str, Any]], tools: Any = None) -> None:
        self._messages = messages
        self._tools = tools
        self._exact: dict[str, int | None] = {}
        self.messages = len(messages)
        self.images = 0
        size = 0
        for m in messages:
            content = m.get("content")
            if isinstance(content, str):
                size += _text_bytes(content)
            elif isinstance(content, list):
                for part in content:
                    if not isinstance(part, Mapping):
                        continue
                    text = part.get("text")
                    if isinstance(text, str):
                        size += _text_bytes(text)
                    elif part.get("type") in _IMAGE_TYPES:
                        self.images += 1
            calls = m.get("tool_calls")
            if calls:
                size += _json_bytes(calls)
        self.text_bytes = size
        self.tool_bytes = _json_bytes(tools) if tools else 0
        total = size + self.tool_bytes
        #: a conservative estimate (about 3 bytes a token): natural text and code come in under it
        self.upper = math.ceil(total / UPPER_BYTES_PER_TOKEN) + self.images * IMAGE_UPPER + self._overhead
        #: a floor (10 bytes a token): a prompt whose floor does not fit surely does not
        self.lower = total // LOWER_BYTES_PER_TOKEN + self.images * IMAGE_LOWER + self._overhead

    @property
    def _overhead(self) -> int:
        return self.messages * PER_MESSAGE + PRIMING

    @property
    def ceiling(self) -> int:
        """The worst case budgets reserve: one token per UTF-8 byte of every field and part the
        model reads, 1,600 tokens an image, plus the per-message overhead."""
        total = self.text_bytes + self.tool_bytes + self._ceiling_bytes()
        return total // CEILING_BYTES_PER_TOKEN + self.images * IMAGE_CEILING + self._overhead

    def _ceiling_bytes(self) -> int:
        """What the ceiling adds to the bytes the bounds measure: names and ids, the JSON of parts
        neither text nor image (audio, files), the multi-byte excess of tool calls (the bounds count
        their characters), and a byte a piece, so that halving the total rounds every piece up.
        Measured on demand: routing never pays for it."""
        extra = 0
        for m in self._messages:
            content = m.get("content")
            if isinstance(content, str):
                extra += 1
            elif isinstance(content, list):
                for part in content:
                    if not isinstance(part, Mapping):
                        continue
                    if isinstance(part.get("text"), str):
                        extra += 1
                    elif part.get("type") not in _IMAGE_TYPES:
                        extra += _json_bytes(part) + 1
            calls = m.get("tool_calls")
            if calls:
                text = _json_text(calls)
                extra += _text_bytes(text) - len(text) + 1
            extra += sum(_json_bytes(m[k]) + 1 for k in _OTHER_FIELDS if m.get(k) is not None)
        return extra + (1 if self._tools else 0)

    def exact(self, tokenizer: str | None) -> int | None:
        """The prompt counted with ``tokenizer``'s tiktoken encoding (cached), or ``None`` if unavailable."""
        if not tokenizer:
            return None
        if tokenizer in self._exact:
            return self._exact[tokenizer]
        enc = encoding_for(tokenizer)
        count: int | None = None
        if enc is not None:
            count = self._overhead + self.images * IMAGE_UPPER
            for text in self._texts():
                count += len(enc.encode(text, disallowed_special=()))
        self._exact[tokenizer] = count
        return count

    def _texts(self) -> list[str]:
        out: list[str] = []
        for m in self._messages:
            content = m.get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                out.extend(p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
            if m.get("tool_calls"):
                out.append(_json_text(m["tool_calls"]))
        if self._tools:
            out.append(json.dumps(self._tools, separators=(",", ":"), default=str))
        return out
