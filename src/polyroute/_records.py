"""Records: small value objects without the import-time cost of dataclasses.

A record declares its fields in ``__slots__`` and sets them in ``__init__``; it gets a readable
``repr``, equality and hashing by field. Records are read-only by convention (nothing in
polyroute writes to one after building it). A ``@dataclass`` costs about a millisecond at
import; these are what ``import polyroute`` loads for the routing types.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Record"]


class Record:
    """Base class: ``repr``, ``==`` and ``hash`` over the fields in ``__slots__``."""

    __slots__ = ()

    def _names(self) -> tuple[str, ...]:
        names: tuple[str, ...] = type(self).__slots__
        return names

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._names())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._names())
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record) or type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())
