"""Liveness of trials across worker processes: heartbeats, stale trials, orphaned runs.

Optuna keeps heartbeats only on ``RDBStorage`` and starts the heartbeat thread itself
only inside ``study.optimize()``; we drive studies with ask/tell, so
:func:`trial_heartbeat` does it around each trial (one thread for a whole cohort in the
population engine). A worker that dies (``kill -9``, a lost machine) stops beating; once
its trials are older than the grace period, :func:`reap_stale` (called by every worker
between trials) fails them, Optuna's retry callback queues a copy as a WAITING trial that
the next ``study.ask()`` picks up, and the dead trial's MLflow run, which MLflow leaves
RUNNING forever, is ended KILLED.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import optuna
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.trial import TrialState

from sweeps.store import Tracker, trial_id
from sweeps.store.schema import ATTR_WORKER

log = logging.getLogger(__name__)

STALE_REASON = "worker stopped (no heartbeat within the grace period); run ended by another worker"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def warm_up() -> None:
    """Import TensorFlow before asking a trial: loading its native library holds the GIL
    for seconds, which would starve the first trial's heartbeat thread."""
    from trainer._tf import tf_keras

    tf_keras()


def heartbeat_interval(storage: Any) -> int | None:
    """Seconds between heartbeats, or ``None`` when the storage has no heartbeats."""
    if not is_heartbeat_enabled(storage):
        return None
    assert isinstance(storage, BaseHeartbeat)
    return storage.get_heartbeat_interval()


@contextmanager
def trial_heartbeat(storage: Any, study: optuna.Study, *trials: optuna.Trial) -> Iterator[None]:
    """Keep ``trials`` alive in the storage while the block runs.

    The first beat is recorded before the block starts (a trial without any heartbeat
    is never detected as stale), then a daemon thread beats every interval until the
    block exits, whichever way. Each trial is tagged with this worker's ``host:pid``.
    Without heartbeats (journal file storage) only the tag is set.
    """
    interval = heartbeat_interval(storage)
    ids: list[int] = []
    if interval is not None:
        assert isinstance(storage, BaseHeartbeat)
        ids = [trial_id(storage, study, t.number) for t in trials]
        for id_ in ids:
            _beat(storage, id_)
    me = worker_id()
    for trial in trials:
        trial.set_user_attr(ATTR_WORKER, me)
    if interval is None:
        yield
        return
    assert isinstance(storage, BaseHeartbeat)
    stop = threading.Event()
    thread = threading.Thread(
        target=_beat_until,
        args=(storage, ids, interval, stop),
        name=f"sweeps-heartbeat-{'-'.join(map(str, ids))}",
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 5)


def _beat(storage: BaseHeartbeat, id_: int) -> None:
    try:
        storage.record_heartbeat(id_)
    except Exception as exc:  # a database hiccup must not kill the trial; retry next beat
        log.warning("heartbeat of trial id %s failed: %s", id_, " ".join(str(exc).split()))


def _beat_until(
    storage: BaseHeartbeat, ids: list[int], interval: int, stop: threading.Event
) -> None:
    while not stop.wait(timeout=interval):
        for id_ in ids:
            _beat(storage, id_)


def reap_stale(study: optuna.Study, tracker: Tracker) -> None:
    """Fail trials whose worker stopped beating (their retries are queued by the storage's
    callback) and end every MLflow run left RUNNING by a trial that is over as KILLED."""
    if heartbeat_interval(tracker.store.optuna) is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    kill_orphan_runs(study, tracker)


def kill_orphan_runs(study: optuna.Study, tracker: Tracker) -> list[str]:
    """End as KILLED the child runs still RUNNING whose trial is no longer RUNNING.

    A live worker ends its trial's run before telling Optuna, so a run still RUNNING
    after its trial was seen finished belongs to a process that died. The trials are
    read before the runs, so a run ended between the two reads is never touched.
    One search, whatever the study size. Returns the ids of the runs ended.
    """
    over = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    killed = []
    for run_id, number in tracker.running_trial_runs():
        if number in over:
            tracker.kill_run(run_id, STALE_REASON)
            killed.append(run_id)
    return killed


def wait_for_running(
    study: optuna.Study, tracker: Tracker, stop: Callable[[], bool] | None = None
) -> bool:
    """The study has all its trials, but some still run in other workers: wait.

    Returns ``True`` as soon as a retry is queued (a worker died: run it), ``False``
    once every trial that was running has ended. Only trials that beat are watched
    (one that never did cannot go stale, so waiting for it could last forever).
    """
    interval = heartbeat_interval(tracker.store.optuna)
    if interval is None:
        return False
    waiting = (TrialState.WAITING,)
    watched = {
        t.number
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if ATTR_WORKER in t.user_attrs
    }
    while watched and not (stop and stop()):
        if study.get_trials(deepcopy=False, states=waiting):
            return True
        time.sleep(min(interval, 2))
        reap_stale(study, tracker)
        running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        watched &= running
    return bool(study.get_trials(deepcopy=False, states=waiting))
