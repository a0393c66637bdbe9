"""The trained network of each trial that is the study's best as it ends (with several
objectives: on the Pareto front) goes to its MLflow run as a model, so the best trial in
the UI can be loaded, compared and served without retraining. A trial whose outcome is a
failure (:func:`~sweeps.store.is_failure`) is never the best, so it gets no model.

The network is built here, on the training thread (a few milliseconds: a Keras model
from weights that are already in memory), and saved by the tracker's writer thread while
training goes on (:meth:`~sweeps.store.Tracker.log_model`). Only trials that beat this
process's best so far ask the study whether they are its best, so a sweep reads the
study once per improvement, not once per trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna

from sweeps.runner.objectives import objective_values
from sweeps.runner.session import TrialReport, TrialSession
from sweeps.space import SearchSpace
from sweeps.store import Tracker, best_trial, cost, is_failure_label, pareto_front
from trainer.config import TrainConfig
from trainer.results import TrainResult

EXAMPLE_ROWS = 5
"""Input rows saved with a model as its example (and the source of its signature)."""


class ModelKeeper:
    """Decides, as trials end, which of them get their network saved as an MLflow model."""

    def __init__(self, study: optuna.Study, space: SearchSpace, tracker: Tracker) -> None:
        self.study, self.space, self.tracker = study, space, tracker
        self._directions = space.settings.objective_directions
        self._seen: list[tuple[float, ...]] = []  # costs of the trials that ended here
        self.saved: list[int] = []
        """Trial numbers whose model this keeper queued, in order."""

    def consider(self, ended: Sequence[tuple[TrialSession, TrainResult, TrialReport]]) -> None:
        """After the trials of ``ended`` were told: queue the models of those that are
        the study's best (or on its front) now."""
        candidates = []
        for session, result, report in ended:
            values = self._values(result, report)
            if values is None or not servable(result):
                continue
            if not any(_covers(other, values) for other in self._seen):
                candidates.append((session, result))
            self._seen.append(values)
        if not candidates:
            return
        best = self._study_best()
        for session, result in candidates:
            if session.trial.number in best:
                self._save(session, result)

    def _values(self, result: TrainResult, report: TrialReport) -> tuple[float, ...] | None:
        """The trial's objective values as costs (:func:`~sweeps.store.cost`); ``None``
        when it did not complete, or its outcome is a failure: not the best, and no bar
        that a later trial must clear to be considered."""
        if report.state != "COMPLETE" or is_failure_label(report.outcome):
            return None
        values = [v for v in objective_values(self.space.settings, result) if v is not None]
        if len(values) != len(self._directions):
            return None
        return cost(values, self._directions)

    def _study_best(self) -> set[int]:
        if self.space.settings.multi:
            return {t.number for t in pareto_front(self.study)}
        best = best_trial(self.study)
        return set() if best is None else {best.number}

    def _save(self, session: TrialSession, result: TrainResult) -> None:
        config = session.config()
        model, example = served(config, result)
        self.tracker.log_model(session.run_id, model, example)
        self.saved.append(session.trial.number)


def _covers(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Cost ``a`` at least as good as ``b`` everywhere; a tie counts, so a trial equal to
    an earlier one is not saved again."""
    return all(x <= y for x, y in zip(a, b, strict=True))


def servable(result: TrainResult) -> bool:
    """Whether the run left a network worth loading: finite weights, and no divergence
    (the trainer stops a diverged run before its bad step, so its weights are finite,
    but they are the ones whose next batch blew the loss up)."""
    finite = all(np.isfinite(w).all() for w in result.weights)
    return bool(result.weights) and finite and result.divergence is None


def served(config: TrainConfig, result: TrainResult) -> tuple[Any, np.ndarray]:
    """The network to serve and its input example: it takes the features as the data
    holds them (its scaling, if any, is its first layer) and predicts probabilities."""
    from trainer.inputs import dataset_for, raw_dataset
    from trainer.model import serving_model

    raw = raw_dataset(config)
    model = serving_model(config, result.weights, scaling=dataset_for(config).scaling)
    return model, np.asarray(raw.x_test[:EXAMPLE_ROWS], np.float32)
