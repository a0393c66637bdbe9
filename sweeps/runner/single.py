"""The single engine: one trial asked, trained alone and recorded (:func:`run_trial`),
and the study's summary on its parent run (:func:`update_parent`), which every engine
refreshes as trials end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from sweeps.runner.liveness import trial_heartbeat
from sweeps.runner.models import ModelKeeper
from sweeps.runner.session import TrialReport, TrialSession
from sweeps.space import SearchSpace
from sweeps.store import (
    Tracker,
    best_trial,
    primary_value,
    schema,
    set_user_attrs,
    state_counts,
    trials_frame,
)
from trainer.data import Dataset


def update_parent(study: optuna.Study, tracker: Tracker, *, with_table: bool = False) -> None:
    """Best value/params so far and trial counts on the study's parent run."""
    trials = study.get_trials(deepcopy=False)
    best = best_trial(study)
    table = trials_frame(study).to_csv(index=False) if with_table else None
    origin = study.user_attrs.get(schema.STUDY_REFINED_FROM)
    tracker.update_parent(
        counts=state_counts(trials),
        best_value=primary_value(best) if best else None,
        best_params=best.user_attrs.get(schema.ATTR_PARAMS) if best else None,
        best_trial=best.number if best else None,
        trials_csv=table,
        extra_tags={schema.TAG_REFINED_FROM: str(origin)} if origin else None,
    )


def run_trial(
    study: optuna.Study,
    space: SearchSpace,
    tracker: Tracker,
    *,
    dataset: Dataset | None = None,
    params: Mapping[str, Any] | None = None,
    engine: str = "single",
    user_attrs: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    trial: optuna.Trial | None = None,
    models: ModelKeeper | None = None,
) -> TrialReport:
    """Ask one trial (or take ``trial``, already asked), train it with the single engine,
    and record how it ended.

    ``dataset`` overrides the config's (already loaded data); ``params``, ``engine`` and
    ``tags`` go to the :class:`TrialSession`; ``user_attrs`` are set on the trial first.
    ``models`` saves the network when the trial ends as the study's best.
    """
    from trainer.training import train

    if trial is None:
        trial = study.ask(fixed_distributions=space.distributions)  # the rest: space.suggest
    set_user_attrs(trial, user_attrs or {})
    # a dead worker's trial goes stale and is retried
    with trial_heartbeat(tracker.store.optuna, study, trial):
        session = TrialSession(
            study, space, tracker, trial, engine=engine, params=params, tags=tags
        )
        try:
            try:
                result = train(session.config(), dataset=dataset, on_epoch_end=session.on_epoch)
            except KeyboardInterrupt:
                session.interrupt()
                raise
            except optuna.exceptions.UpdateFinishedTrialError:
                raise
            except Exception as exc:
                return session.fail(exc)
            report = session.finish(result)
            if models is not None:
                models.consider([(session, result, report)])
            return report
        except optuna.exceptions.UpdateFinishedTrialError as exc:
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise KeyboardInterrupt from exc
            return session.taken_over()
