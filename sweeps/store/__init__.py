"""Where studies and runs live: store locations, Optuna access, MLflow access, the schema.

Each command resolves one :class:`Store` and passes it down; ``store.optuna`` and
``store.mlflow`` open each backend once. :class:`Tracker` is the only code that talks to
MLflow; :mod:`sweeps.store.schema` spells every stored key once.

Imports point one way, down this list: ``_optuna`` (studies and trials) and ``_mlflow``
(the tracker and run reads) use ``_locations`` (the :class:`Store` value and its two
openers, the study lock), which uses ``_heartbeat`` (dead-worker timing and retries),
``_locks`` (database and file locks) and ``_urls`` (masking passwords in URLs and errors);
``_mlflow`` also uses ``_models`` (networks saved as MLflow models, registered by name);
``_optuna`` also uses ``_pareto`` (non-dominated sorting, which the runner's rungs share);
``_writer``, ``_template``, ``_pruners``, ``_pareto`` and ``schema`` import none of them.

:func:`is_failure` is the one rule for which trials can be the best: a trial whose outcome
is a failure label (:data:`FAILURE_LABELS`) is never :func:`best_trial` nor on
:func:`pareto_front`.
"""

from sweeps.store._copies import is_copy
from sweeps.store._heartbeat import (
    ENV_GRACE_PERIOD,
    ENV_HEARTBEAT_INTERVAL,
    GRACE_PERIOD,
    HEARTBEAT_INTERVAL,
    heartbeat_settings,
    retry_callback,
)
from sweeps.store._locations import DEFAULT_ROOT, Store, connect, resolve_store, study_lock
from sweeps.store._locks import init_lock
from sweeps.store._mlflow import (
    Tracker,
    find_experiment_id,
    find_parent_run,
    kill_if_running,
    log_text,
    metric_history,
)
from sweeps.store._models import has_model, model_uri, register_model
from sweeps.store._optuna import (
    FAILURE_LABELS,
    accounted_trials,
    all_failures_note,
    best_trial,
    candidate_trials,
    completed_trials,
    failure_counts,
    frozen_trial,
    is_failure,
    is_failure_label,
    is_multi,
    load_existing,
    make_pruner,
    make_sampler,
    nondominated,
    open_study,
    optuna_storage,
    outcome_counts,
    pareto_front,
    primary_value,
    report_values,
    set_many_user_attrs,
    set_user_attrs,
    state_counts,
    study_objectives,
    summary_best,
    trial_id,
    trial_params,
    trials_frame,
)
from sweeps.store._pareto import cost, first_front, fronts
from sweeps.store._urls import redact, scrub, with_pg_driver

__all__ = [
    "DEFAULT_ROOT",
    "ENV_GRACE_PERIOD",
    "ENV_HEARTBEAT_INTERVAL",
    "FAILURE_LABELS",
    "GRACE_PERIOD",
    "HEARTBEAT_INTERVAL",
    "Store",
    "Tracker",
    "accounted_trials",
    "all_failures_note",
    "best_trial",
    "candidate_trials",
    "completed_trials",
    "connect",
    "cost",
    "failure_counts",
    "find_experiment_id",
    "find_parent_run",
    "first_front",
    "fronts",
    "frozen_trial",
    "has_model",
    "heartbeat_settings",
    "init_lock",
    "is_copy",
    "is_failure",
    "is_failure_label",
    "is_multi",
    "kill_if_running",
    "load_existing",
    "log_text",
    "make_pruner",
    "make_sampler",
    "metric_history",
    "model_uri",
    "nondominated",
    "open_study",
    "optuna_storage",
    "outcome_counts",
    "pareto_front",
    "primary_value",
    "redact",
    "register_model",
    "report_values",
    "resolve_store",
    "retry_callback",
    "scrub",
    "set_many_user_attrs",
    "set_user_attrs",
    "state_counts",
    "study_lock",
    "study_objectives",
    "summary_best",
    "trial_id",
    "trial_params",
    "trials_frame",
    "with_pg_driver",
]
