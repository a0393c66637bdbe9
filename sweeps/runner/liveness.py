"""Liveness of trials across worker processes: owners, heartbeats, stale trials, orphaned runs.

Invariant after any command that opens a study: no trial RUNNING without a live owner,
no MLflow run RUNNING without its trial. :func:`reap` is the one place that restores it,
and every command calls it as it opens or loads a study (the sweep loop as it opens the
study and between trials, :func:`load_checked` for the commands that read one):

* every running trial records its owner (host, pid, process start time) when it starts;
  on any store, a trial whose owner on this host is gone (``kill -9``, a crash) is failed
  with the reason. No thread is needed: the process table says who is alive.
* on RDB storages (PostgreSQL, ...) the heartbeat rule also applies: Optuna keeps
  heartbeats only there and starts their thread only inside ``study.optimize()``; we
  drive studies with ask/tell, so :func:`trial_heartbeat` beats around each trial, and a
  trial silent for longer than the grace period (a lost machine) is failed as stale.

Either way Optuna's retry callback queues a copy as a WAITING trial that the next
``study.ask()`` picks up, and the dead trial's MLflow run, which MLflow leaves RUNNING
forever, is ended KILLED with the reason.
"""

from __future__ import annotations

import copy
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.trial import TrialState

from sweeps.store import (
    Store,
    Tracker,
    kill_if_running,
    load_existing,
    set_user_attrs,
    trial_id,
)
from sweeps.store import retry_callback as _retry_callback
from sweeps.store.schema import ATTR_OUTCOME, ATTR_OWNER, ATTR_REASON, ATTR_RUN_ID, ATTR_WORKER

log = logging.getLogger(__name__)

STALE_REASON = "worker stopped (no heartbeat within the grace period); run ended by another worker"
GONE_REASON = "its process {owner} is gone (killed or crashed); failed and retried by pid {me}"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, field 22 of
    ``/proc/<pid>/stat``), or ``None`` if there is no such live process (a zombie is dead)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text.rsplit(")", 1)[-1].split()  # the command name may hold spaces
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def owner_record() -> dict[str, Any]:
    """This process as a trial's owner (stored in :data:`ATTR_OWNER`)."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": process_start(os.getpid())}


def owner_gone(owner: Any) -> bool:
    """Is the recorded owner a process of this host that no longer runs? Owners on other
    hosts (and trials without one) are never judged here: their heartbeat is."""
    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return False
    try:
        pid = int(owner["pid"])
    except (KeyError, TypeError, ValueError):
        return False
    if owner.get("started") is None:  # no /proc where it ran: only the pid to go by
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return process_start(pid) != owner["started"]


def own(*trials: optuna.Trial) -> None:
    """Record this process as the owner of ``trials`` (and its ``host:pid`` as worker)."""
    me, owner = worker_id(), owner_record()
    for trial in trials:
        if trial.user_attrs.get(ATTR_OWNER) != owner:
            set_user_attrs(trial, {ATTR_OWNER: owner, ATTR_WORKER: me})


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
    block exits, whichever way. Each trial records its owner (this process) and this
    worker's ``host:pid``. Without heartbeats (journal file storage) only those are set.
    """
    interval = heartbeat_interval(storage)
    ids: list[int] = []
    if interval is not None:
        assert isinstance(storage, BaseHeartbeat)
        ids = [trial_id(storage, study, t.number) for t in trials]
        for id_ in ids:
            _beat(storage, id_)
    own(*trials)
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


def reap(study: optuna.Study, store: Store, tracker: Tracker | None = None) -> list[int]:
    """Restore the invariant for ``study``: fail (and queue the retry of) every RUNNING
    trial whose owner is gone, then end their MLflow runs KILLED.

    Owner rule on every store, heartbeat rule on RDB storages (see the module). With a
    ``tracker`` (run, worker) every run left RUNNING by a trial that is over is ended,
    in one search; without one (status, report, ...) only the runs of the trials failed
    now, by id, so a read-only command creates nothing in MLflow and does not touch it
    at all when nobody died; an unreachable tracking server is then only a warning.
    Returns the numbers of the trials failed now.
    """
    storage = store.optuna
    failed = _fail_gone_owners(study, storage)
    if heartbeat_interval(storage) is not None:
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        if before:
            now_failed = {
                t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
            }
            failed += sorted(before & now_failed)
    if tracker is not None:
        try:
            kill_orphan_runs(study, tracker)
        except Exception as exc:  # the tracking server is down: the next look will do it
            log.warning("could not look for orphaned MLflow runs (%s)", _brief(exc))
    elif failed:
        _kill_runs_of(study, store, failed)
    return failed


def reap_stale(study: optuna.Study, tracker: Tracker) -> None:
    """:func:`reap` for the sweep loop, which has a tracker (every orphan run is ended)."""
    reap(study, tracker.store, tracker)


def load_checked(name: str, store: Store) -> optuna.Study:
    """Load study ``name`` for a command that reads it (status, report, export, trials),
    reaped first so what it shows holds no dead trial."""
    study = load_existing(name, store)
    reap(study, store)
    return study


def _fail_gone_owners(study: optuna.Study, storage: Any) -> list[int]:
    """Fail the RUNNING trials whose owner on this host is gone, with the reason, and
    queue their retries through Optuna's retry callback, as the RDB storage does."""
    failed: list[int] = []
    callback = None
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get(ATTR_OWNER)
        if not owner_gone(owner):
            continue
        assert isinstance(owner, dict)
        reason = GONE_REASON.format(owner=f"{owner['host']}:{owner['pid']}", me=os.getpid())
        id_ = trial_id(storage, study, t.number)
        try:
            storage.set_trial_user_attr(id_, ATTR_OUTCOME, "killed")
            storage.set_trial_user_attr(id_, ATTR_REASON, reason)
            storage.set_trial_state_values(id_, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process reaped it (or its owner ended it) first
        callback = callback or _retry_callback()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            callback(study, copy.deepcopy(t))
        log.warning("trial %d: %s", t.number, reason)
        failed.append(t.number)
    return failed


def _kill_runs_of(study: optuna.Study, store: Store, numbers: list[int]) -> None:
    wanted = set(numbers)
    for t in study.get_trials(deepcopy=False):
        run_id = t.user_attrs.get(ATTR_RUN_ID)
        if t.number not in wanted or not run_id:
            continue
        try:
            kill_if_running(store, str(run_id), _reason(t))
        except Exception as exc:  # a read-only command must still show the study
            log.warning(
                "trial %d: could not end its MLflow run %s (%s); the next run or worker will",
                t.number,
                run_id,
                _brief(exc),
            )


def _brief(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _reason(trial: optuna.trial.FrozenTrial) -> str:
    if trial.user_attrs.get(ATTR_OUTCOME) == "killed" and trial.user_attrs.get(ATTR_REASON):
        return str(trial.user_attrs[ATTR_REASON])
    return STALE_REASON


def kill_orphan_runs(study: optuna.Study, tracker: Tracker) -> list[str]:
    """End as KILLED the child runs still RUNNING whose trial is no longer RUNNING.

    A live worker ends its trial's run before telling Optuna, so a run still RUNNING
    after its trial was seen finished belongs to a process that died. The trials are
    read before the runs, so a run ended between the two reads is never touched.
    One search, whatever the study size. Returns the ids of the runs ended.
    """
    over = {t.number: t for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    killed = []
    for run_id, number in tracker.running_trial_runs():
        if number in over:
            tracker.kill_run(run_id, _reason(over[number]))
            killed.append(run_id)
    return killed


def wait_for_running(
    study: optuna.Study, tracker: Tracker, stop: Callable[[], bool] | None = None
) -> bool:
    """The study has all its trials, but some still run in other workers: wait.

    Returns ``True`` as soon as a retry is queued (a worker died: run it), ``False``
    once every trial that was running has ended. Only trials whose death would be seen
    are watched (on RDB storages those that beat, on the journal store those owned on
    this host): waiting for any other could last forever.
    """
    interval = heartbeat_interval(tracker.store.optuna)
    waiting = (TrialState.WAITING,)
    here = socket.gethostname()

    def judged(t: optuna.trial.FrozenTrial) -> bool:
        if interval is not None:
            return ATTR_WORKER in t.user_attrs
        owner = t.user_attrs.get(ATTR_OWNER)
        return isinstance(owner, dict) and owner.get("host") == here

    watched = {
        t.number
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if judged(t)
    }
    while watched and not (stop and stop()):
        if study.get_trials(deepcopy=False, states=waiting):
            return True
        time.sleep(min(interval or 1, 2))
        reap_stale(study, tracker)
        running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        watched &= running
    return bool(study.get_trials(deepcopy=False, states=waiting))
