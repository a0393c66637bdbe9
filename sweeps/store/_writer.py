"""The tracker's writer: MLflow writes off the training thread, batched, retried while the
tracking server is down, flushed (with a bounded wait) when a trial ends and at exit.

A trial's epochs go into a queue that one background thread per :class:`~sweeps.store.
Tracker` drains: consecutive metrics/params/tags of one run become one ``log_batch``
(within MLflow's per-request limits), other operations (artifacts, ending a run) keep
their order. A write that fails for a reason that may pass (the server is down or
restarting, a dropped connection, a 5xx) is retried with backoff, for as long as the
process lives, so an outage loses nothing; one MLflow rejects (4xx: a bad value, a
deleted run) is logged and dropped, as the synchronous call would have raised.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

FLUSH_TIMEOUT_S = 120.0
"""How long ending a trial (or the process) waits for its writes: longer than a server
restart, short enough not to hang on a server that is gone for good."""
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits between attempts of one write (then the last one, again and again)."""
MAX_METRICS, MAX_PARAMS, MAX_TAGS = 1000, 100, 100
"""MLflow's limits per ``log_batch`` request."""
IDLE_S = 5.0
"""A writer's thread ends after this long without writes (many trackers, few threads)."""


@dataclass
class _Op:
    run_id: str
    metrics: list[Any] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    tags: list[Any] = field(default_factory=list)
    call: Callable[[], None] | None = None  # anything but a batch (artifact, status)
    what: str = "log_batch"


class Writer:
    """One background thread writing a tracker's runs (see the module)."""

    def __init__(self, client: Any, name: str = "sweeps-mlflow-writer") -> None:
        self.client = client
        self.name = name
        self._ops: deque[_Op] = deque()
        self._cond = threading.Condition()
        self._in_flight: list[_Op] = []  # taken by the thread, not yet written
        self._urgent: Counter[str] = Counter()  # runs someone waits for: written first
        self._thread: threading.Thread | None = None  # started on demand, ends when idle
        self._holds = 0  # see hold()
        self._expedited = 0  # waits that a hold must not block (see expedite())
        _LIVE.add(self)

    # -- producers (any thread) ---------------------------------------------------------

    def batch(
        self,
        run_id: str,
        *,
        metrics: list[Any] | None = None,
        params: list[Any] | None = None,
        tags: list[Any] | None = None,
    ) -> None:
        self._put(_Op(run_id, list(metrics or ()), list(params or ()), list(tags or ())))

    def call(self, run_id: str, what: str, fn: Callable[[], None]) -> None:
        """Queue any other write of ``run_id`` (kept in order with its batches)."""
        self._put(_Op(run_id, call=fn, what=what))

    def _put(self, op: _Op) -> None:
        with self._cond:
            self._ops.append(op)
            self._cond.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """While the block runs, the thread starts only the writes someone waits for
        (:meth:`flush`): the block's own Python work (asking and telling trials) does not
        share the interpreter with writes that can wait for the next training step,
        which leaves the interpreter free while it runs."""
        with self._cond:
            self._holds += 1
        try:
            yield
        finally:
            with self._cond:
                self._holds -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def expedite(self) -> Iterator[None]:
        """While the block runs, a hold holds nothing back: for a holder that waits for
        work of the writer's or of :meth:`wait_unheld`'s callers."""
        with self._cond:
            self._expedited += 1
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._expedited -= 1

    def wait_unheld(self) -> None:
        """For other background work on the tracking store (creating runs): wait while a
        :meth:`hold` is on, unless someone waits for it (:meth:`expedite`)."""
        with self._cond:
            while self._held():
                self._cond.wait()

    def _held(self) -> bool:
        return bool(self._holds) and not self._expedited

    def pending_runs(self) -> set[str]:
        """Runs with writes not yet done (a reaper must not take them for orphans)."""
        with self._cond:
            return {op.run_id for op in (*self._ops, *self._in_flight)}

    def flush(self, timeout: float = FLUSH_TIMEOUT_S, runs: Iterable[str] | None = None) -> bool:
        """Wait until every queued write is done (with ``runs``: every write of those
        runs, which go before the others), at most ``timeout`` seconds; ``False`` if some
        are still pending (they go on being retried in the background)."""
        deadline = time.monotonic() + timeout
        wanted = None if runs is None else set(runs)
        everything = self.expedite() if wanted is None else contextlib.nullcontext()
        with everything, self._cond:
            self._urgent.update(wanted or ())
            self._cond.notify_all()  # a held thread: these writes may start
            try:
                while self._waiting_for(wanted):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        log.warning(
                            "MLflow: %d write(s) still pending after %.0fs; "
                            "retrying in the background",
                            len(self._ops) + len(self._in_flight),
                            timeout,
                        )
                        return False
                    self._cond.wait(timeout=min(left, 1.0))
            finally:
                self._urgent.subtract(wanted or ())
                self._urgent = +self._urgent
        return True

    def _waiting_for(self, runs: set[str] | None) -> bool:
        if runs is None:
            return bool(self._ops or self._in_flight)
        return any(op.run_id in runs for op in (*self._ops, *self._in_flight))

    # -- the thread ---------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._ops:
                    self._cond.wait(timeout=IDLE_S)
                if not self._ops:  # idle: end; the next write starts another thread
                    self._thread = None
                    return
                self._in_flight = _coalesce(list(self._ops))
                self._ops.clear()
            try:
                while True:
                    with self._cond:
                        if self._urgent and self._ops:  # someone waits: what came since too
                            self._in_flight = _coalesce([*self._in_flight, *self._ops])
                            self._ops.clear()
                        if not self._in_flight:
                            break
                        # an urgent run's first write, else the oldest: a run's own
                        # writes keep their order; different runs need none between them
                        op = next((o for o in self._in_flight if o.run_id in self._urgent), None)
                        if op is None:
                            if self._held():
                                self._cond.wait()  # until released, or a write is waited for
                                continue
                            op = self._in_flight[0]
                    self._write(op)
                    with self._cond:
                        self._in_flight = [o for o in self._in_flight if o is not op]
                        self._cond.notify_all()
            finally:
                with self._cond:
                    self._in_flight = []
                    self._cond.notify_all()

    def _write(self, op: _Op) -> None:
        attempt = 0
        while True:
            try:
                if op.call is not None:
                    op.call()
                else:
                    self.client.log_batch(
                        op.run_id, metrics=op.metrics, params=op.params, tags=op.tags
                    )
                if attempt:
                    log.warning(
                        "MLflow: %s of run %s written after %d retries", op.what, op.run_id, attempt
                    )
                return
            except Exception as exc:
                if not transient(exc):
                    log.warning(
                        "MLflow: %s of run %s dropped: %s",
                        op.what,
                        op.run_id,
                        " ".join(str(exc).split())[:300],
                    )
                    return
                wait = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
                if attempt == 0:
                    log.warning(
                        "MLflow: %s of run %s failed (%s); retrying",
                        op.what,
                        op.run_id,
                        " ".join(str(exc).split())[:200],
                    )
                attempt += 1
                time.sleep(wait)


def retrying(fn: Callable[[], T], what: str, timeout: float = FLUSH_TIMEOUT_S) -> T:
    """``fn()`` now, retried with backoff for up to ``timeout`` seconds while it fails for
    a reason that may pass (for a write whose result the caller needs: a new run's id)."""
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            if not transient(exc) or time.monotonic() >= deadline:
                raise
            if attempt == 0:
                log.warning(
                    "MLflow: %s failed (%s); retrying", what, " ".join(str(exc).split())[:200]
                )
            time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            attempt += 1


def transient(exc: BaseException) -> bool:
    """Might the write succeed later? Not when MLflow answered that it is wrong (4xx)."""
    with contextlib.suppress(ImportError):
        from mlflow.exceptions import MlflowException

        if isinstance(exc, MlflowException):
            return int(exc.get_http_status_code()) >= 500
    return True


def _coalesce(ops: list[_Op]) -> list[_Op]:
    """Batches of one run merged into as few requests as MLflow's limits allow, each into
    the run's previous batch when no other write of that run came between them (writes
    of different runs need no order between them; a run's own writes keep theirs)."""
    out: list[_Op] = []
    tail: dict[str, _Op | None] = {}  # each run's last op in ``out``, when it is a batch
    for op in ops:
        last = tail.get(op.run_id)
        if (
            op.call is None
            and last is not None
            and len(last.metrics) + len(op.metrics) <= MAX_METRICS
            and len(last.params) + len(op.params) <= MAX_PARAMS
            and len(last.tags) + len(op.tags) <= MAX_TAGS
            and not {p.key for p in last.params} & {p.key for p in op.params}
            and not {t.key for t in last.tags} & {t.key for t in op.tags}
        ):
            last.metrics += op.metrics
            last.params += op.params
            last.tags += op.tags
        else:
            out.append(op)
            tail[op.run_id] = op if op.call is None else None
    return out


_LIVE: weakref.WeakSet[Writer] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    """At exit (also after Ctrl-C), every writer's queue is written, within the bound."""
    for writer in list(_LIVE):
        writer.flush()
