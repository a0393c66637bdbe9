"""The tracker's background writer: batches per run, order kept, transient failures
retried until they pass, rejected writes dropped, flush bounded."""

from __future__ import annotations

import threading
import time
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException, RestException

from sweeps.store import _writer
from sweeps.store._writer import Writer, transient


class FlakyClient:
    """Fails the first ``down`` requests as a stopped server would, then records them."""

    def __init__(self, down: int = 0, gate: threading.Event | None = None) -> None:
        self.down, self.gate = down, gate
        self.requests: list[tuple[str, Any]] = []
        self.attempts = 0

    def log_batch(self, run_id: str, metrics=(), params=(), tags=()) -> None:
        if self.gate is not None:
            self.gate.wait()
        self.attempts += 1
        if self.attempts <= self.down:
            raise ConnectionError("Connection refused")
        self.requests.append((run_id, ([m.step for m in metrics], len(params), len(tags))))

    def end(self, run_id: str) -> None:
        self.requests.append((run_id, "end"))


def test_batches_of_a_run_are_merged_in_order_and_ends_stay_in_place(monkeypatch) -> None:
    gate = threading.Event()
    client = FlakyClient(gate=gate)
    w = Writer(client)
    w.batch("a", params=[Param("p", "1")])
    time.sleep(0.2)  # the thread now waits on the gate with that first request
    for step in (1, 2):
        w.batch("a", metrics=[Metric("loss", 1.0, 0, step)])
    w.batch("b", tags=[RunTag("t", "x")])
    w.batch("a", metrics=[Metric("loss", 1.0, 0, 3)])  # merged across b's batch
    w.call("a", "end", lambda: client.end("a"))
    w.batch("b", metrics=[Metric("loss", 1.0, 0, 1)])  # merged across a's end
    w.batch("a", tags=[RunTag("late", "x")])  # after a's end: not merged before it
    assert w.pending_runs() == {"a", "b"}
    gate.set()
    assert w.flush(timeout=10)
    assert client.requests == [
        ("a", ([], 1, 0)),
        ("a", ([1, 2, 3], 0, 0)),  # three epochs, one request
        ("b", ([1], 0, 1)),
        ("a", "end"),
        ("a", ([], 0, 1)),
    ]
    assert w.pending_runs() == set()


def test_while_held_only_the_writes_waited_for_are_written() -> None:
    """hold(): the block (asking and telling trials) keeps the interpreter; a flush of
    some runs still gets them written, a flush of everything gets everything, and the
    rest follows the block's end."""
    client = FlakyClient()
    w = Writer(client)
    with w.hold():
        for run in ("a", "b"):
            w.batch(run, metrics=[Metric("loss", 1.0, 0, 1)])
        time.sleep(0.3)
        assert client.requests == []  # nobody waits for them: held
        assert w.flush(timeout=10, runs=["b"])
        assert client.requests == [("b", ([1], 0, 0))]
        time.sleep(0.3)
        assert w.pending_runs() == {"a"}  # still held
    deadline = time.monotonic() + 10
    while w.pending_runs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.requests == [("b", ([1], 0, 0)), ("a", ([1], 0, 0))]
    with w.hold():
        w.batch("c", metrics=[Metric("loss", 1.0, 0, 1)])
        assert w.flush(timeout=10)  # everything: no deadlock with the holder
    assert client.requests[-1] == ("c", ([1], 0, 0))


def test_other_background_work_waits_for_a_hold_unless_it_is_waited_for() -> None:
    """wait_unheld() (creating runs) waits while held; expedite() (someone waits for that
    work inside the hold) lets it through, so a holder never waits on itself."""
    w = Writer(FlakyClient())
    passed = threading.Event()

    def worker() -> None:
        w.wait_unheld()
        passed.set()

    with w.hold():
        threading.Thread(target=worker, daemon=True).start()
        assert not passed.wait(0.3)
        with w.expedite():
            assert passed.wait(10)
    w.wait_unheld()  # not held: returns at once


def test_a_flush_for_some_runs_writes_them_first() -> None:
    gate = threading.Event()
    client = FlakyClient(gate=gate)
    w = Writer(client)
    w.batch("slow", tags=[RunTag("t", "x")])
    time.sleep(0.2)  # the thread waits on the gate with that request
    for run in ("a", "b", "c"):
        w.batch(run, metrics=[Metric("loss", 1.0, 0, 1)])
    w.call("b", "end", lambda: client.end("b"))
    threading.Timer(0.3, gate.set).start()
    assert w.flush(timeout=10, runs=["b"])
    assert client.requests[:3] == [
        ("slow", ([], 0, 1)),
        ("b", ([1], 0, 0)),  # b's writes first, in their order
        ("b", "end"),
    ]
    assert w.flush(timeout=10)
    assert [r for r, _ in client.requests[3:]] == ["a", "c"]


def test_a_flush_does_not_wait_for_the_writes_taken_before_it() -> None:
    """The thread has taken x and y (behind a slow write) when b's end is queued and
    waited for: b goes right after the slow write, not after x and y."""
    gate = threading.Event()
    client = FlakyClient(gate=gate)
    w = Writer(client)
    with w._cond:  # the thread starts on the first write and takes all three at once
        for run in ("slow", "x", "y"):
            w.batch(run, metrics=[Metric("loss", 1.0, 0, 1)])
    time.sleep(0.2)
    w.batch("b", metrics=[Metric("loss", 1.0, 0, 2)])
    w.call("b", "end", lambda: client.end("b"))
    threading.Timer(0.3, gate.set).start()
    assert w.flush(timeout=10, runs=["b"])
    assert w.flush(timeout=10)
    assert [r for r, _ in client.requests] == ["slow", "b", "b", "x", "y"]


def test_a_server_that_is_down_is_retried_until_it_answers(monkeypatch) -> None:
    monkeypatch.setattr(_writer, "BACKOFF_S", (0.01,))
    client = FlakyClient(down=5)
    w = Writer(client)
    w.batch("a", metrics=[Metric("loss", 1.0, 0, 1)])
    assert w.flush(timeout=10)
    assert client.attempts == 6 and client.requests == [("a", ([1], 0, 0))]


def test_flush_is_bounded_and_the_writes_go_on_in_the_background(monkeypatch) -> None:
    monkeypatch.setattr(_writer, "BACKOFF_S", (0.05,))
    client = FlakyClient(down=30)
    w = Writer(client)
    w.batch("a", metrics=[Metric("loss", 1.0, 0, 1)])
    started = time.monotonic()
    assert not w.flush(timeout=0.3)
    assert time.monotonic() - started < 2
    assert w.pending_runs() == {"a"}
    assert w.flush(timeout=20)  # the outage ends: nothing was lost
    assert client.requests == [("a", ([1], 0, 0))]


def test_what_mlflow_rejects_is_not_retried() -> None:
    """As the REST client raises them: 5xx and transport errors may pass, 4xx will not."""

    def rest(code: str) -> RestException:
        return RestException({"error_code": code, "message": "..."})

    assert transient(ConnectionError("refused"))
    assert transient(MlflowException("API request failed: Max retries exceeded"))
    assert transient(rest("TEMPORARILY_UNAVAILABLE"))
    assert not transient(rest("INVALID_PARAMETER_VALUE"))
    assert not transient(rest("RESOURCE_DOES_NOT_EXIST"))
