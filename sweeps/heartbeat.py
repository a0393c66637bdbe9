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

log = logging.getLogger(__name__)

# We start and stop the heartbeat around each asked trial ourselves (trial_heartbeat), so
# Optuna's warning that heartbeats are meant for Study.optimize() does not apply.
warnings.filterwarnings(
    "ignore", message="Heartbeat of storage is supposed to be used with Study.optimize"
)

ATTR_WORKER = "worker"
"""Trial user attribute: ``host:pid`` of the process running it (set once it beats)."""
STALE_REASON = "worker stopped (no heartbeat within the grace period); run ended by another worker"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def warm_up() -> None:
    """Import TensorFlow before asking a trial: loading its native library holds the GIL
    for seconds, which would starve the first trial's heartbeat thread."""
    from trainer._tf import tf_keras

    tf_keras()


def heartbeat_interval(study: optuna.Study) -> int | None:
    """Seconds between heartbeats, or ``None`` when the storage has no heartbeats."""
    storage = study._storage
    if not is_heartbeat_enabled(storage):
        return None
    assert isinstance(storage, BaseHeartbeat)
    return storage.get_heartbeat_interval()


@contextmanager
def trial_heartbeat(study: optuna.Study, *trials: optuna.Trial) -> Iterator[None]:
    """Keep ``trials`` alive in the storage while the block runs.

    The first beat is recorded before the block starts (a trial without any heartbeat
    is never detected as stale), then a daemon thread beats every interval until the
    block exits, whichever way. Each trial is tagged with this worker's ``host:pid``.
    Without heartbeats (journal file storage) only the tag is set.
    """
    storage = study._storage
    interval = heartbeat_interval(study)
    ids = [t._trial_id for t in trials]
    if interval is not None:
        assert isinstance(storage, BaseHeartbeat)
        for trial_id in ids:
            _beat(storage, trial_id)
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


def _beat(storage: BaseHeartbeat, trial_id: int) -> None:
    try:
        storage.record_heartbeat(trial_id)
    except Exception as exc:  # a database hiccup must not kill the trial; retry next beat
        log.warning("heartbeat of trial id %s failed: %s", trial_id, " ".join(str(exc).split()))


def _beat_until(
    storage: BaseHeartbeat, ids: list[int], interval: int, stop: threading.Event
) -> None:
    while not stop.wait(timeout=interval):
        for trial_id in ids:
            _beat(storage, trial_id)


def reap_stale(study: optuna.Study, tracker: Any) -> None:
    """Fail trials whose worker stopped beating (their retries are queued by the storage's
    callback) and end every MLflow run left RUNNING by a trial that is over as KILLED."""
    if heartbeat_interval(study) is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    kill_orphan_runs(study, tracker)


def kill_orphan_runs(study: optuna.Study, tracker: Any) -> list[str]:
    """End as KILLED the child runs still RUNNING whose trial is no longer RUNNING.

    A live worker ends its trial's run before telling Optuna, so a run still RUNNING
    after its trial was seen finished belongs to a process that died. The trials are
    read before the runs, so a run ended between the two reads is never touched.
    One search, whatever the study size. Returns the ids of the runs ended.
    """
    from sweeps.tracking import TAG_ROLE, TAG_TRIAL

    over = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    runs = tracker.client.search_runs(
        [tracker.experiment_id],
        filter_string=f"attributes.status = 'RUNNING' and tags.`{TAG_ROLE}` = 'trial'",
        max_results=5000,
    )
    killed = []
    for run in runs:
        number = run.data.tags.get(TAG_TRIAL, "")
        if number.isdigit() and int(number) in over:
            tracker.kill_run(run.info.run_id, STALE_REASON)
            killed.append(run.info.run_id)
    return killed


def wait_for_running(
    study: optuna.Study, tracker: Any, stop: Callable[[], bool] | None = None
) -> bool:
    """The study has all its trials, but some still run in other workers: wait.

    Returns ``True`` as soon as a retry is queued (a worker died: run it), ``False``
    once every trial that was running has ended. Only trials that beat are watched
    (one that never did cannot go stale, so waiting for it could last forever).
    """
    interval = heartbeat_interval(study)
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
