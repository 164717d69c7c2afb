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


class _Recorder:
    """A writer's ``write``: keeps every batch; ``gate`` (when set) holds each write until opened."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[list[int]] = []
        self.gate = gate
        self.wrote = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, batch: list[int]) -> None:
        if self.gate is not None:
            assert self.gate.wait(30)
        with self.lock:
            self.batches.append(list(batch))
        self.wrote.set()


def test_rows_are_gathered_into_one_batch_and_flush_writes_them_at_once() -> None:
    rec = _Recorder()
    writer: BackgroundWriter[int] = BackgroundWriter(rec, flush_interval=3600.0)  # only flush() ends the gathering
    for i in range(50):
        writer.put(i)
    assert writer.pending == 50
    assert writer.flush(30)  # does not wait for the interval
    assert rec.batches == [list(range(50))]
    assert writer.acknowledged == 50 and writer.pending == 0
    writer.close()


def test_a_full_batch_is_written_without_waiting_for_the_interval() -> None:
    rec = _Recorder()
    writer: BackgroundWriter[int] = BackgroundWriter(rec, batch_size=8, flush_interval=3600.0)
    for i in range(8):
        writer.put(i)
    assert rec.wrote.wait(30)  # nobody flushed: the batch filled
    assert rec.batches == [list(range(8))]
    writer.close()


def test_a_row_after_a_quiet_spell_wakes_the_writer() -> None:
    rec = _Recorder()
    writer: BackgroundWriter[int] = BackgroundWriter(rec, flush_interval=0.0)
    writer.put(1)
    assert rec.wrote.wait(30)
    assert rec.batches == [[1]]
    writer.close()


def test_close_writes_every_gathered_row() -> None:
    rec = _Recorder()
    writer: BackgroundWriter[int] = BackgroundWriter(rec, batch_size=7, flush_interval=3600.0)
    for i in range(100):
        writer.put(i)
    writer.close()
    assert sorted(i for b in rec.batches for i in b) == list(range(100))
    assert writer.acknowledged == 100
    writer.put(101)  # after close: logged, not stored
    assert writer.acknowledged == 100


def test_a_full_queue_makes_recording_wait_for_room_and_loses_nothing() -> None:
    gate = threading.Event()
    rec = _Recorder(gate)
    writer: BackgroundWriter[int] = BackgroundWriter(rec, queue_size=4, batch_size=2, flush_interval=3600.0)
    done = threading.Event()

    def record() -> None:
        for i in range(20):
            writer.put(i)
        done.set()

    thread = threading.Thread(target=record)
    thread.start()
    for _ in range(30_000):  # until the writer holds a batch of 2 and 4 more wait in the queue
        if writer.pending == 6:
            break
        done.wait(0.001)
    assert writer.pending == 6 and not done.is_set()  # the queue is full: the 7th row waits for room
    gate.set()
    assert done.wait(30)
    thread.join(30)
    assert writer.flush(30)
    assert sorted(i for b in rec.batches for i in b) == list(range(20))
    writer.close()
