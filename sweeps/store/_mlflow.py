"""MLflow tracking: one experiment per study, a parent run, a child run per trial.

Written against :class:`mlflow.MlflowClient` with explicit run ids (never the fluent
API, whose active experiment is process-global), so several workers and the
population engine can log many runs at once without stepping on each other.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sweeps.errors import UserError
from sweeps.store._datasets import dataset_inputs
from sweeps.store._locations import Store
from sweeps.store._locks import init_lock
from sweeps.store._models import save_model
from sweeps.store._urls import failing_as
from sweeps.store._writer import Writer, retrying
from sweeps.store.schema import (
    ARTIFACT_TRIALS,
    ROLE_PARENT,
    ROLE_TRIAL,
    RUN_STATUS,
    TAG_BEST_PARAMS,
    TAG_BEST_TRIAL,
    TAG_COUNT,
    TAG_EXPERIMENT_KIND,
    TAG_OUTCOME,
    TAG_PARENT,
    TAG_REASON,
    TAG_ROLE,
    TAG_STATE,
    TAG_STUDY,
    TAG_TRIAL,
)
from trainer.data import Dataset


class Tracker:
    """Thin, explicit-id wrapper over ``MlflowClient`` for one study: the only code that
    talks to MLflow. Opening one finds or creates the study's experiment and parent run.

    Writes go through a background :class:`~sweeps.store._writer.Writer` (batched, retried
    while the server is down), off the training thread; what has to be done before the
    caller goes on (creating a run, ending a trial's run, ending the parent) waits for
    them, with a bound. Reads are synchronous."""

    def __init__(self, store: Store, study_name: str) -> None:
        self.store = store
        self.study_name = study_name
        self.client = store.mlflow
        self.writer = Writer(self.client, name=f"sweeps-mlflow-{study_name}")
        self._creator: ThreadPoolExecutor | None = None  # start_trial_soon's thread
        uri = store.tracking_uri
        with (
            failing_as("--tracking-uri", uri, "cannot open MLflow"),
            init_lock(uri, "mlflow"),  # concurrent workers converge on one of each
        ):
            self.experiment_id = self._experiment()
            self.parent_run_id: str = self._parent_run()

    def _experiment(self) -> str:
        exp = self.client.get_experiment_by_name(self.study_name)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                self.client.restore_experiment(exp.experiment_id)
            return str(exp.experiment_id)
        try:
            return str(
                self.client.create_experiment(
                    self.study_name,
                    artifact_location=_artifact_location(self.store, self.study_name),
                    # MLflow 3's UI opens experiments in its classic (model training)
                    # view only when told so; the GenAI view shows no runs table.
                    tags={
                        TAG_STUDY: self.study_name,
                        TAG_EXPERIMENT_KIND: "custom_model_development",
                    },
                )
            )
        except Exception:  # another worker created it first
            exp = self.client.get_experiment_by_name(self.study_name)
            if exp is None:
                raise
            return str(exp.experiment_id)

    def _parents(self) -> list[Any]:
        return _parent_runs(self.client, self.experiment_id)

    def _parent_run(self) -> str:
        """Find or create the study's parent run; concurrent creators converge on one."""
        parents = self._parents()
        if parents:
            return str(parents[0].info.run_id)
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"study:{self.study_name}",
            tags={TAG_STUDY: self.study_name, TAG_ROLE: ROLE_PARENT},
        )
        winner = self._parents()[0]
        if winner.info.run_id != run.info.run_id:
            self.client.delete_run(run.info.run_id)
        return str(winner.info.run_id)

    # -- child runs -----------------------------------------------------------------

    def start_trial(
        self,
        trial_number: int,
        params: Mapping[str, Any],
        *,
        tags: Mapping[str, str] | None = None,
        run_name: str | None = None,
    ) -> str:
        """Create the trial's child run with all its params (named ``trial-N`` unless
        ``run_name``); returns the run id."""
        from mlflow.entities import Param

        run = retrying(  # a server restarting: wait for it rather than lose the trial
            lambda: self.client.create_run(
                self.experiment_id,
                run_name=run_name or f"trial-{trial_number}",
                tags={
                    TAG_PARENT: self.parent_run_id,
                    TAG_STUDY: self.study_name,
                    TAG_ROLE: ROLE_TRIAL,
                    TAG_TRIAL: str(trial_number),
                    TAG_STATE: "RUNNING",
                    **(tags or {}),
                },
            ),
            f"creating the run of trial {trial_number}",
        )
        run_id = str(run.info.run_id)
        self.writer.batch(
            run_id, params=[Param(k, _param_str(v)) for k, v in sorted(params.items())]
        )
        return run_id

    def start_trial_soon(
        self,
        trial_number: int,
        params: Mapping[str, Any],
        *,
        tags: Mapping[str, str] | None = None,
    ) -> Future[str]:
        """:meth:`start_trial` on a background thread: the run id, or the error, comes in
        the future. Creating a run is the slowest MLflow call (~15 ms on SQLite, more on a
        server), and a population's new member can train its first epoch meanwhile."""
        if self._creator is None:
            self._creator = ThreadPoolExecutor(1, thread_name_prefix="sweeps-mlflow-runs")
        params, tags = dict(params), dict(tags or {})

        def create() -> str:
            self.writer.wait_unheld()  # not while trials are asked (hold_writes)
            return self.start_trial(trial_number, params, tags=tags)

        return self._creator.submit(create)

    def await_run(self, future: Future[str]) -> Future[str]:
        """``future`` (from :meth:`start_trial_soon`), done: waited for, even inside
        :meth:`hold_writes`."""
        if not future.done():
            with self.writer.expedite():
                wait_for([future])
        return future

    def log_epoch(self, run_id: str, epoch: int, metrics: Mapping[str, float]) -> None:
        """Queue one epoch's metrics (returns at once; see :class:`Writer`)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.writer.batch(
            run_id, metrics=[Metric(k, float(v), now, epoch) for k, v in metrics.items()]
        )

    def finish_trial(
        self,
        run_id: str,
        *,
        state: str,
        outcome: str,
        reason: str = "",
        metrics: Mapping[str, float] | None = None,
        extra_tags: Mapping[str, str] | None = None,
        artifacts: Mapping[str, str] | None = None,
        status: str | None = None,
        wait: bool = True,
    ) -> None:
        """Tag the run with its Optuna state and outcome, end it, attach ``artifacts``
        (after the end: see :meth:`TrialSession._end <sweeps.runner.session.TrialSession._end>`);
        waits (bounded) until all of the run's writes are done, so a run ends before its
        trial is told (what the reaper relies on). ``wait=False`` leaves the wait to the
        caller (:meth:`flush`), who must not tell the trial before it."""
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        tags = {TAG_STATE: state, TAG_OUTCOME: outcome, **(extra_tags or {})}
        if reason:
            tags[TAG_REASON] = reason[:5000]
        self.writer.batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()],
            tags=[RunTag(k, str(v)) for k, v in tags.items()],
        )
        end = status or RUN_STATUS.get(state, "FINISHED")
        self.writer.call(run_id, "end", lambda: self.client.set_terminated(run_id, end))
        if artifacts:
            self.log_texts(run_id, artifacts)
        if wait:
            self.writer.flush()

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.log_texts(run_id, {artifact_file: text})

    def log_texts(self, run_id: str, texts: Mapping[str, str]) -> None:
        """Several text artifacts (``{file name: text}``) in one write: MLflow looks the
        run's artifact location up once per call (~10 ms on SQLite), not once per file."""
        texts = dict(texts)
        self.writer.call(run_id, ", ".join(texts), lambda: _log_texts(self.client, run_id, texts))

    def log_model(self, run_id: str, model: Any, example: Any) -> None:
        """Queue the Keras ``model``'s save as the run's MLflow model
        (:func:`~sweeps.store._models.save_model`): the writer does it while training goes
        on; ``example``, a few input rows, goes with it."""
        self.writer.call(run_id, "model", lambda: save_model(self.client, run_id, model, example))

    def log_datasets(self, run_id: str, data: Dataset, validation_split: float) -> None:
        """Queue the run's dataset inputs (training, validation, testing splits; see
        :mod:`sweeps.store._datasets`), built on the writer thread."""
        self.writer.call(
            run_id,
            "datasets",
            lambda: self.client.log_inputs(run_id, datasets=dataset_inputs(data, validation_split)),
        )

    def hold_writes(self) -> AbstractContextManager[None]:
        """Writes nobody waits for, and runs :meth:`start_trial_soon` creates, wait for
        the block's end (:meth:`Writer.hold`)."""
        return self.writer.hold()

    def flush(self, runs: Iterable[str] | None = None) -> bool:
        """Wait (bounded) for every queued write, or every write of ``runs`` (written
        first); ``False`` if some are still pending."""
        return self.writer.flush(runs=runs)

    # -- parent run ---------------------------------------------------------------

    def update_parent(
        self,
        *,
        counts: Mapping[str, int],
        best_value: float | None,
        best_params: Mapping[str, Any] | None,
        best_trial: int | None,
        trials_csv: str | None = None,
        extra_tags: Mapping[str, str] | None = None,
    ) -> None:
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        metrics = [Metric(f"trials_{k.lower()}", float(v), now, 0) for k, v in counts.items()]
        tags = [RunTag(f"{TAG_COUNT}{k.lower()}", str(v)) for k, v in counts.items()]
        if best_value is not None:
            metrics.append(Metric("best_value", float(best_value), now, 0))
            tags.append(RunTag(TAG_BEST_TRIAL, str(best_trial)))
            tags.append(RunTag(TAG_BEST_PARAMS, json.dumps(best_params, default=str)))
        for k, v in (extra_tags or {}).items():
            tags.append(RunTag(k, v))
        self.writer.batch(self.parent_run_id, metrics=metrics, tags=tags)
        if trials_csv is not None:
            self.log_text(self.parent_run_id, trials_csv, ARTIFACT_TRIALS)

    def end_parent(self) -> None:
        """Mark the parent run FINISHED (it is reopened when the study is resumed); waits
        (bounded) for every queued write: the command is done."""
        parent = self.parent_run_id
        self.writer.call(parent, "end", lambda: self.client.set_terminated(parent, "FINISHED"))
        self.writer.flush()

    def reopen_parent(self) -> None:
        parent = self.parent_run_id
        self.writer.call(parent, "reopen", lambda: self.client.update_run(parent, status="RUNNING"))

    def kill_run(self, run_id: str, reason: str) -> None:
        """End a run left RUNNING by a dead worker as KILLED (MLflow never does this)."""
        _kill(self.client, run_id, reason)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self.writer.batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    # -- reading back -------------------------------------------------------------------

    def running_trial_runs(self) -> list[tuple[str, int]]:
        """``(run id, trial number)`` of every trial run still RUNNING, in one search,
        less the runs this tracker is still writing (not orphans: their end is queued;
        read first, so a run this tracker ends during the search is left out too)."""
        mine = self.writer.pending_runs()
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"attributes.status = 'RUNNING' and tags.`{TAG_ROLE}` = '{ROLE_TRIAL}'",
            max_results=5000,
        )
        out = []
        for run in runs:
            number = run.data.tags.get(TAG_TRIAL, "")
            if number.isdigit() and run.info.run_id not in mine:
                out.append((str(run.info.run_id), int(number)))
        return out


def _log_texts(client: Any, run_id: str, texts: Mapping[str, str]) -> None:
    if len(texts) == 1:
        ((name, text),) = texts.items()
        client.log_text(run_id, text, name)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in texts.items():
            path = Path(tmp, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        client.log_artifacts(run_id, tmp)


def _kill(client: Any, run_id: str, reason: str) -> None:
    from mlflow.entities import RunTag

    client.log_batch(
        run_id,
        tags=[
            RunTag(TAG_STATE, "FAIL"),
            RunTag(TAG_OUTCOME, "killed"),
            RunTag(TAG_REASON, reason),
        ],
    )
    client.set_terminated(run_id, "KILLED")


def kill_if_running(store: Store, run_id: str, reason: str) -> bool:
    """End run ``run_id`` KILLED with ``reason`` if it is still RUNNING (a run its owner
    ended is left alone); opens no experiment and creates nothing. ``True`` if ended."""
    client = store.mlflow
    if client.get_run(run_id).info.status != "RUNNING":
        return False
    _kill(client, run_id, reason)
    return True


def metric_history(store: Store, run_id: str, key: str) -> list[tuple[int, float]]:
    """``(step, value)`` of one metric of any run of the store, in step order."""
    history = store.mlflow.get_metric_history(run_id, key)
    return sorted((int(m.step), float(m.value)) for m in history)


def find_experiment_id(store: Store, study_name: str) -> str:
    """The id of the study's MLflow experiment, read only; a one-line :class:`UserError`
    naming the known experiments when there is none."""
    client = store.mlflow
    exp = client.get_experiment_by_name(study_name)
    if exp is None or exp.lifecycle_stage != "active":
        names = sorted(e.name for e in client.search_experiments() if e.name != "Default")
        known = ", ".join(names) if names else "none"
        raise UserError(
            f"study '{study_name}': no MLflow experiment in {store.describe()} (known: {known})"
        )
    return str(exp.experiment_id)


def find_parent_run(store: Store, study_name: str, run_ids: list[str]) -> str | None:
    """The study's parent run, read only (nothing is created): by its role tag, else
    through the parent tag of one of ``run_ids`` (trial runs of the study)."""
    client = store.mlflow
    exp = client.get_experiment_by_name(study_name)
    if exp is not None:
        parents = _parent_runs(client, str(exp.experiment_id))
        if parents:
            return str(parents[0].info.run_id)
    for run_id in run_ids:
        try:
            parent = client.get_run(run_id).data.tags.get(TAG_PARENT)
        except Exception:  # a run deleted meanwhile: try the next one
            continue
        if parent:
            return str(parent)
    return None


def _parent_runs(client: Any, experiment_id: str) -> list[Any]:
    """The experiment's parent runs, earliest first (ties by run id): the first one is
    the study's, whichever process created it."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{TAG_ROLE}` = '{ROLE_PARENT}'",
        order_by=["attributes.start_time ASC"],
        max_results=50,
    )
    return sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id))


def log_text(store: Store, run_id: str, text: str, artifact_file: str) -> None:
    """Attach a text artifact to any run of the store (report pages, curves)."""
    store.mlflow.log_text(run_id, text, artifact_file)


def _artifact_location(store: Store, study_name: str) -> str | None:
    if store.artifact_root is None:
        return None
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in study_name)
    return f"{store.artifact_root}/{safe}"


def _param_str(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list | tuple | dict) else str(value)
    return text[:6000]
