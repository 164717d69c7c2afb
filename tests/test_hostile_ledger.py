"""The ledger never loses a good row for a bad one: a row the database refuses is dropped alone,
logged and counted; a call with bad caller fields is refused before anything is sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import USER, RouterFactory, endpoint
from tests.test_ledger import row

from polyroute import errors
from polyroute.ledger import Ledger, PostgresLedger, SQLiteLedger
from polyroute.ledger._writer import BackgroundWriter
from polyroute.testing import ProviderSimulator


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "sqlite":
        made: Ledger = SQLiteLedger(tmp_path / "usage.db")
    else:
        url = request.getfixturevalue("postgres_url")
        made = PostgresLedger(url, schema=request.getfixturevalue("postgres_schema"))
    yield made
    made.close()


def test_a_bad_row_is_dropped_alone_and_counted(ledger: Any) -> None:
    good = [row(i) for i in range(9)]
    bad = row(99, prompt_tokens=2**70)  # no database column holds this
    for r in [*good[:4], bad, *good[4:]]:
        ledger.record(r)
    assert ledger.flush(30)
    stored = {r.request_id for r in ledger.rows()}
    assert stored == {r.request_id for r in good}
    assert ledger.rejected == 1
    assert ledger.dropped == 1
    assert ledger.acknowledged == 9


def test_the_writer_isolates_bad_items_in_any_position() -> None:
    written: list[int] = []
    lock = threading.Lock()

    def write(batch: list[int]) -> None:
        if any(i % 7 == 0 for i in batch):
            raise ValueError("bad row")
        with lock:
            written.extend(batch)

    writer: BackgroundWriter[int] = BackgroundWriter(write, batch_size=16)
    for i in range(1, 101):
        writer.put(i)
    assert writer.flush(30)
    writer.close()
    assert sorted(written) == [i for i in range(1, 101) if i % 7]
    assert writer.rejected == writer.dropped == 14


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [({"caller_key": 5}, "caller_key"), ({"project": [1]}, "project"), ({"metadata": 5}, "metadata")],
)
def test_bad_caller_fields_are_refused_before_sending(
    kwargs: dict[str, Any], param: str, tmp_path: Path, sim: ProviderSimulator, make_router: RouterFactory
) -> None:
    ledger = SQLiteLedger(tmp_path / "usage.db")
    router = make_router({"m": [endpoint("a")]}, ledger=ledger)
    router.completion("m", USER, project="fine")
    with pytest.raises(errors.InvalidRequest) as info:
        router.completion("m", USER, **kwargs)
    assert info.value.param == param
    router.completion("m", USER, project="fine")
    assert ledger.flush(30)
    assert len(list(ledger.rows())) == 2
    assert len(sim.provider("a").requests) == 2
    ledger.close()
