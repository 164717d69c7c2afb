"""Writing report records as CSV or JSON (Decimals as exact strings)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

__all__ = ["to_csv", "to_json"]


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def to_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """CSV with a header row (the first record's keys)."""
    buf = io.StringIO()
    if records:
        writer = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow({k: _plain(v) for k, v in r.items()})
    return buf.getvalue()


def to_json(records: Sequence[Mapping[str, Any]]) -> str:
    """A JSON array of objects, money as decimal strings."""
    return json.dumps([{k: _plain(v) for k, v in r.items()} for r in records], indent=2, ensure_ascii=False) + "\n"
