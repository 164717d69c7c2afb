"""A secret value that never shows itself in a repr, a log line or an error."""

from __future__ import annotations

__all__ = ["Secret"]


class Secret:
    """Holds an API key. ``str()`` and ``repr()`` print ``'**********'``; ``reveal()`` gives the value."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, *, source: str = "") -> None:
        self._value = value
        #: where it came from, e.g. ``env:GROQ_API_KEY`` (safe to show)
        self.source = source

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
