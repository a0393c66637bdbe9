"""What a study gives back to Python (:mod:`sweeps.api`): a :class:`StudyResult` with
its best trial, its trials as a DataFrame and its Pareto front, and what
:meth:`StudyResult.export` wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeps.errors import UserError

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from sweeps.runner.sweep import SweepSummary
    from sweeps.store import Store

__all__ = ["Exported", "StudyResult", "TrialSummary"]


@dataclass(frozen=True)
class TrialSummary:
    """One finished trial as a user asks for it: its values, its full (retrainable)
    parameter dict, its outcome and its MLflow run."""

    number: int
    values: dict[str, float]
    """Objective name -> value, in the study's order."""
    params: dict[str, Any]
    outcome: str
    run_id: str | None

    @property
    def value(self) -> float:
        """The first objective's value."""
        return next(iter(self.values.values()))

    @property
    def model_uri(self) -> str | None:
        """``runs:/<id>/model``: where its network is, when it was saved (the trials that
        were the study's best as they ended; see :mod:`sweeps.runner.models`)."""
        from sweeps.store import model_uri

        return None if self.run_id is None else model_uri(self.run_id)

    @classmethod
    def of(cls, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> TrialSummary:
        from sweeps.store import study_objectives, trial_params
        from sweeps.store.schema import ATTR_OUTCOME, ATTR_RUN_ID

        run_id = trial.user_attrs.get(ATTR_RUN_ID)
        return cls(
            number=trial.number,
            values=dict(zip(study_objectives(study), trial.values or (), strict=False)),
            params=trial_params(trial),
            outcome=str(trial.user_attrs.get(ATTR_OUTCOME, "-")),
            run_id=str(run_id) if run_id else None,
        )


@dataclass(frozen=True)
class Exported:
    """What :func:`export` wrote: the trial, its parameter file and, when asked, the
    registered model version."""

    trial: TrialSummary
    path: Path | None
    model_version: Any = None
    """MLflow's ``ModelVersion`` (``.name``, ``.version``) when ``register`` was given."""


@dataclass(frozen=True, repr=False)
class StudyResult:
    """A study in its store, as :func:`run` left it or :func:`load` found it."""

    study: optuna.Study
    store: Store
    summary: SweepSummary | None = field(default=None, compare=False)
    """What this :func:`run` call did (its trials' reports, seconds, timed out)."""
    interrupted: bool = False
    """A Ctrl-C (a notebook's interrupt) ended this :func:`run` call: the running trials
    ended as interrupted, and the same call resumes the study."""
    exit_code: int = 0
    """With ``workers > 1``: the workers' exit code (130: interrupted; else the first
    failed worker's, whose error was printed)."""

    def __repr__(self) -> str:
        """One line a notebook shows for a result: the study, its trials and its best."""
        best = self.best
        shown = (
            "none yet"
            if best is None
            else f"#{best.number} " + ", ".join(f"{k}={v:.4g}" for k, v in best.values.items())
        )
        note = ", interrupted" if self.interrupted else ""
        return (
            f"StudyResult(study={self.name!r}, trials={len(self.study.trials)}, best={shown}{note})"
        )

    @property
    def name(self) -> str:
        return str(self.study.study_name)

    @property
    def objectives(self) -> list[str]:
        from sweeps.store import study_objectives

        return list(study_objectives(self.study))

    @cached_property
    def best(self) -> TrialSummary | None:
        """The best COMPLETE trial (several objectives: the front's best on the first)."""
        from sweeps.store import best_trial

        trial = best_trial(self.study)
        return None if trial is None else TrialSummary.of(self.study, trial)

    @cached_property
    def pareto(self) -> list[TrialSummary]:
        """The Pareto front, by trial number (one objective: the best trial alone)."""
        from sweeps.store import is_multi, pareto_front

        if not is_multi(self.study):
            return [] if self.best is None else [self.best]
        return [TrialSummary.of(self.study, t) for t in pareto_front(self.study)]

    @property
    def trials(self) -> pd.DataFrame:
        """Every trial: number, state, values, outcome, reason, params, MLflow run id."""
        from sweeps.store import trials_frame

        return trials_frame(self.study)

    def export(
        self,
        out: str | Path | None = None,
        *,
        pick: str | None = None,
        fmt: str | None = None,
        register: str | None = None,
    ) -> Exported:
        """See :func:`export`."""
        from sweeps.analysis.export import best_config
        from sweeps.files import write_mapping
        from sweeps.store import register_model

        if fmt is not None and fmt not in ("yaml", "json"):
            raise UserError(f"--format: must be yaml or json, got {fmt!r}")
        if register is not None and not register.strip():
            raise UserError(f"--register: must be a non-empty model name, got {register!r}")
        trial, params = best_config(self.study, pick)
        picked = TrialSummary.of(self.study, trial)
        version = None
        if register is not None:  # before the file: a refusal writes nothing
            run_id = _model_run(self.store, picked, "--register: ")
            version = register_model(self.store, run_id, register)
        path = None if out is None else write_mapping(params, Path(out), fmt)
        return Exported(picked, path, version)

    def report(self, out: str | Path = "report.html") -> Path:
        """Write the study's HTML report (also logged to its parent run)."""
        from sweeps.analysis.report import write_report

        return write_report(self.study, self.store, Path(out))

    def load_model(self, pick: str | None = None) -> Any:
        """The best (or picked) trial's network as an ``mlflow.pyfunc`` model."""
        import mlflow.pyfunc

        from sweeps.analysis.export import best_config
        from sweeps.store import model_uri

        trial = TrialSummary.of(self.study, best_config(self.study, pick)[0])
        return mlflow.pyfunc.load_model(model_uri(_model_run(self.store, trial)))


def _model_run(store: Store, trial: TrialSummary, what: str = "") -> str:
    """The run holding ``trial``'s saved model; a one-line error (after ``what``) when it
    has none."""
    from sweeps.store import has_model

    if trial.run_id is None or not has_model(store, trial.run_id):
        raise UserError(
            f"{what}trial {trial.number} has no saved model (only trials that were the study's "
            "best as they ended have one); retrain it with 'sweeps train -p' on its "
            "exported params"
        )
    return trial.run_id
