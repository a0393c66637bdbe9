"""Where studies and runs live: store locations, Optuna access, MLflow access, the schema.

Each command resolves one :class:`Store` and passes it down; ``store.optuna`` and
``store.mlflow`` open each backend once. :class:`Tracker` is the only code that talks to
MLflow; :mod:`sweeps.store.schema` spells every stored key once.
"""

from sweeps.store._locations import (
    DEFAULT_ROOT,
    ENV_GRACE_PERIOD,
    ENV_HEARTBEAT_INTERVAL,
    GRACE_PERIOD,
    HEARTBEAT_INTERVAL,
    Store,
    heartbeat_settings,
    init_lock,
    redact,
    resolve_store,
    scrub,
    with_pg_driver,
)
from sweeps.store._mlflow import Tracker, connect, find_parent_run, log_text, metric_history
from sweeps.store._optuna import (
    accounted_trials,
    best_trial,
    frozen_trial,
    is_multi,
    load_existing,
    make_pruner,
    make_sampler,
    open_study,
    optuna_storage,
    outcome_counts,
    pareto_front,
    primary_value,
    state_counts,
    study_objectives,
    trial_id,
    trial_params,
    trials_frame,
)

__all__ = [
    "DEFAULT_ROOT",
    "ENV_GRACE_PERIOD",
    "ENV_HEARTBEAT_INTERVAL",
    "GRACE_PERIOD",
    "HEARTBEAT_INTERVAL",
    "Store",
    "Tracker",
    "accounted_trials",
    "best_trial",
    "connect",
    "find_parent_run",
    "frozen_trial",
    "heartbeat_settings",
    "init_lock",
    "is_multi",
    "load_existing",
    "log_text",
    "make_pruner",
    "make_sampler",
    "metric_history",
    "open_study",
    "optuna_storage",
    "outcome_counts",
    "pareto_front",
    "primary_value",
    "redact",
    "resolve_store",
    "scrub",
    "state_counts",
    "study_objectives",
    "trial_id",
    "trial_params",
    "trials_frame",
    "with_pg_driver",
]
