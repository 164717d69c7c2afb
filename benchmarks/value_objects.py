"""Value-object kinds compared: class-definition (import) cost and construction cost.

``python -m benchmarks.value_objects``: the figures behind the "Value objects" table of
docs/architecture.md (a class of 4 fields; best of repeated ``timeit`` runs).
"""

from __future__ import annotations

import functools
import timeit
from collections.abc import Callable
from dataclasses import dataclass

import pydantic

from polyroute._records import Record


def _dataclass() -> type:
    @dataclass(slots=True)
    class P:
        a: float
        b: float
        c: float
        d: int

    return P


def _frozen_dataclass() -> type:
    @dataclass(frozen=True, slots=True)
    class P:
        a: float
        b: float
        c: float
        d: int

    return P


def _record() -> type:
    class P(Record):
        __slots__ = ("a", "b", "c", "d")

        def __init__(self, a: float, b: float, c: float, d: int) -> None:
            self.a = a
            self.b = b
            self.c = c
            self.d = d

    return P


def _pydantic() -> type:
    class P(pydantic.BaseModel):
        a: float
        b: float
        c: float
        d: int

    return P


KINDS: dict[str, Callable[[], type]] = {
    "dataclass(slots)": _dataclass,
    "dataclass(frozen, slots)": _frozen_dataclass,
    "Record": _record,
    "pydantic.BaseModel": _pydantic,
}


def measure() -> dict[str, tuple[float, float]]:
    """Per kind: microseconds to define the class, nanoseconds to build one."""
    out: dict[str, tuple[float, float]] = {}
    for name, define in KINDS.items():
        define_us = min(timeit.repeat(define, number=50, repeat=5)) / 50 * 1e6
        build = functools.partial(define(), a=1.0, b=2.0, c=3.0, d=4)
        build_ns = min(timeit.repeat(build, number=20000, repeat=7)) / 20000 * 1e9
        out[name] = (define_us, build_ns)
    return out


if __name__ == "__main__":
    results = measure()
    base_define, base_build = results["dataclass(slots)"]
    print(f"{'kind':26s} {'define (us)':>12s} {'build (ns)':>11s} {'define x':>9s} {'build x':>8s}")
    for kind, (define_us, build_ns) in results.items():
        print(
            f"{kind:26s} {define_us:12.0f} {build_ns:11.0f} {define_us / base_define:9.3f} {build_ns / base_build:8.2f}"
        )
