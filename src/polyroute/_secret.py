"""Secrets: values that never show themselves in a repr, a log line, an error or a ledger row.

Every secret polyroute holds (API keys, secret headers, database passwords) is a :class:`Secret`
or is registered with :func:`remember`; :func:`scrub` replaces those values, and text shaped like
a well-known provider key (``sk-...``, ``sk-ant-...``, ``AIza...``, ``gsk_...``, ``xai-...``,
``Bearer ...``), with ``***``. Errors scrub their message and body when they are made, so a
provider echoing the key back in a 401 body cannot carry it any further.

The records of the ``polyroute`` and ``polyroute.gateway`` loggers (warnings, and the errors of
a database or Redis driver logged with their traceback) are scrubbed as they are logged.

Which names carry secrets (:func:`is_secret_name`): ``authorization``, ``proxy-authorization``,
``cookie``, and any name containing ``key``, ``token``, ``secret``, ``password`` or ``auth``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

__all__ = ["Secret", "is_secret_name", "remember", "remember_url", "scrub", "scrub_values"]

_MASK = "***"
#: shorter values are not scrubbed by value (they would mask ordinary words); shapes still apply
_MIN_LENGTH = 8
#: the most distinct secrets remembered (each reload may add its keys)
_MAX_REMEMBERED = 4096
_KEY_SHAPES = re.compile(
    r"(?:"
    r"\bsk-(?:ant-|proj-|or-v1-|or-)?[A-Za-z0-9_\-]{16,}"
    r"|\bAIza[0-9A-Za-z_\-]{30,}"
    r"|\bgsk_[A-Za-z0-9]{20,}"
    r"|\bxai-[A-Za-z0-9]{20,}"
    r"|\bfw_[A-Za-z0-9]{20,}"
    r"|\b[Bb]earer\s+[A-Za-z0-9._~+/=\-]{12,}"
    r")"
)
_SECRET_NAME = re.compile(r"key|token|secret|passw|auth|cookie|credential", re.IGNORECASE)


class _Remembered:
    """The secret values to scrub, in a thread-safe registry of bounded size."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, None] = {}
        #: a snapshot, longest first (so a value containing another is replaced first)
        self.values: tuple[str, ...] = ()

    def add(self, value: str) -> None:
        if len(value) < _MIN_LENGTH or value in self._seen:
            return
        with self._lock:
            if len(self._seen) >= _MAX_REMEMBERED:
                self._seen.pop(next(iter(self._seen)))
            self._seen[value] = None
            self.values = tuple(sorted(self._seen, key=len, reverse=True))


_REMEMBERED = _Remembered()


def is_secret_name(name: str) -> bool:
    """Whether a header or option named ``name`` carries a secret (``Authorization``, ``x-api-key``...)."""
    return bool(_SECRET_NAME.search(name))


def remember(value: str) -> None:
    """Scrub ``value`` from everything polyroute shows or stores from now on."""
    _REMEMBERED.add(value)


_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:]*:([^/]*)@", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"(?:^|[?&;\s])password=([^&;\s]*)", re.IGNORECASE)


def remember_url(url: str) -> None:
    """Scrub the password of a database or Redis URL (``redis://:pw@host``, ``postgresql://u:pw@h/db``,
    ``...?password=pw``), as written and percent-decoded, from everything polyroute shows or stores."""
    from urllib.parse import unquote

    found = [m.group(1) for m in (_URL_PASSWORD.match(url), *_QUERY_PASSWORD.finditer(url)) if m is not None]
    for password in found:
        if password:
            remember(password)
            remember(unquote(password))


def scrub_values(text: str, values: Iterable[str]) -> str:
    """``text`` with each of ``values`` (of at least 8 characters) replaced by ``***``."""
    for value in values:
        if len(value) >= _MIN_LENGTH and value in text:
            text = text.replace(value, _MASK)
    return text


def scrub(text: str) -> str:
    """``text`` without any secret polyroute holds, nor anything shaped like a provider's key."""
    if not text:
        return text
    text = scrub_values(text, _REMEMBERED.values)
    return _KEY_SHAPES.sub(_MASK, text)


class Secret:
    """Holds an API key. ``str()`` and ``repr()`` print ``'**********'``; ``reveal()`` gives the value.

    Making one remembers its value, so that :func:`scrub` removes it from errors and records.
    """

    __slots__ = ("_value", "source")

    def __init__(self, value: str, *, source: str = "") -> None:
        self._value = value
        #: where it came from, e.g. ``env:GROQ_API_KEY`` (safe to show)
        self.source = source
        remember(value)

    def reveal(self) -> str:
        """The secret itself, for the one place that sends it upstream."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('**********'{', source=' + repr(self.source) if self.source else ''})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values are not picklable")


class _ScrubRecords(logging.Filter):
    """Scrubs a log record's message and traceback (a driver's error may quote its URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        return True


_SCRUB_RECORDS = _ScrubRecords()
for _name in ("polyroute", "polyroute.gateway"):
    logging.getLogger(_name).addFilter(_SCRUB_RECORDS)
