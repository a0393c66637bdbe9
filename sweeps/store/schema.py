"""The stored schema: every key we write into Optuna and MLflow, spelled once.

Optuna study user attributes (``STUDY_*``), trial user attributes (``ATTR_*``), MLflow
run tags (``TAG_*``) and artifact names (``ARTIFACT_*``). Readers (status, report,
export, stability, doctor) and writers (the trial session, the tracker) import these
names; a key spelled as a literal anywhere else is a bug waiting for a rename.
"""

from __future__ import annotations

# -- Optuna study user attributes ---------------------------------------------------------
STUDY_SPACE = "search_space"
"""Fingerprint of the search space the study was created with (resume check)."""
STUDY_SPACE_FILE = "space_file"
"""Where that search space came from (a path, or ``sweeps doctor``)."""
STUDY_METRIC = "metric"
"""The study's objective metric name (``val_accuracy``, ...); the first one of several."""
STUDY_METRICS = "metrics"
"""Every objective name of a multi-objective study, in order (absent with one objective)."""

# -- Optuna trial user attributes ---------------------------------------------------------
ATTR_PARAMS = "params"
"""The full, retrainable parameter dict of the trial (what ``export`` writes)."""
ATTR_RUN_ID = "mlflow_run_id"
ATTR_OUTCOME = "outcome"
"""The trial's outcome label (``ok``, ``diverged``, ``pruned``, ``failed``, ...)."""
ATTR_REASON = "reason"
ATTR_LABELS = "labels"
"""Every outcome label that applies, most important first."""
ATTR_EVIDENCE = "evidence"
ATTR_PREFLIGHT = "preflight"
ATTR_FINAL_VALUE = "final_value"
"""The study metric at the last epoch trained, also for a pruned or diverged trial."""
ATTR_OBJECTIVES = "objectives"
"""Multi-objective studies: objective name -> value (``None`` if not finite) at the end."""
ATTR_TEST_ACCURACY = "test_accuracy"
ATTR_CHANCE_ACCURACY = "chance_accuracy"
ATTR_EPOCHS_RUN = "epochs_run"
ATTR_WALL_TIME = "wall_time"
ATTR_DIVERGED_EPOCH = "diverged_epoch"
ATTR_DIVERGED_BATCH = "diverged_batch"
ATTR_WORKER = "worker"
"""``host:pid`` of the process running the trial (set once it beats)."""
ATTR_OWNER = "owner"
"""``{"host", "pid", "started"}`` of the process running the trial; ``started`` is the
process start time (``/proc/<pid>/stat``), so a reused pid is not taken for the owner."""
ATTR_STOPPED_AT_RUNG = "stopped_at_rung"
"""``pruner: asha``: the rung (1 first) a trial was stopped at, apart from failures."""
ATTR_RUNG_PREFIX = "rung."
"""Prefix: a multi-objective trial's objective values at a rung epoch (``rung.3``)."""
ATTR_DOCTOR_CHANGE = "doctor.change"
"""``sweeps doctor``: the probe's change (``activation: linear -> sigmoid``, ``(as given)``)."""
ATTR_DOCTOR_FACTOR = "doctor.factor"
"""``sweeps doctor``: the factor the probe changed (``activation``, ..., or ``baseline``)."""


def rung_attr(epoch: int) -> str:
    """The attribute holding a multi-objective trial's objective values at ``epoch``."""
    return f"{ATTR_RUNG_PREFIX}{epoch}"


# -- MLflow tags ----------------------------------------------------------------------------
TAG_STUDY = "sweeps.study"
TAG_ROLE = "sweeps.role"
"""``parent`` (one per study), ``trial`` (one per trial) or ``train`` (``sweeps train``)."""
TAG_TRIAL = "optuna.trial_number"
TAG_STATE = "optuna.state"
TAG_OUTCOME = "sweeps.outcome"
TAG_REASON = "sweeps.reason"
TAG_PARENT = "mlflow.parentRunId"
TAG_ENGINE = "sweeps.engine"
TAG_RETRY_OF = "sweeps.retry_of_run"
TAG_RETRY_OF_TRIAL = "sweeps.retry_of_trial"
TAG_LABELS = "sweeps.labels"
TAG_EVIDENCE = "sweeps.evidence."
"""Prefix: one tag per evidence number (``sweeps.evidence.loss_ratio``, ...)."""
TAG_PREFLIGHT = "sweeps.preflight"
TAG_BEST_TRIAL = "sweeps.best_trial"
TAG_BEST_PARAMS = "sweeps.best_params"
TAG_COUNT = "sweeps.count."
"""Prefix: trials per Optuna state on the parent run (``sweeps.count.complete``, ...)."""
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"
TAG_RUNG = "sweeps.rung"
"""``pruner: asha``: on a trial stopped at a rung, the rung (as :data:`ATTR_STOPPED_AT_RUNG`)."""
TAG_DOCTOR_CHANGE = "sweeps.doctor.change"
"""``sweeps doctor``, on each probe's run: as :data:`ATTR_DOCTOR_CHANGE`."""
TAG_DOCTOR_FACTOR = "sweeps.doctor.factor"
"""``sweeps doctor``, on each probe's run: as :data:`ATTR_DOCTOR_FACTOR`."""
TAG_DOCTOR_BASELINE = "sweeps.doctor.baseline"
"""``sweeps doctor``, on the parent run: the outcome of the config as given."""
TAG_DOCTOR_FIXES = "sweeps.doctor.fixes"
"""``sweeps doctor``, on the parent run: the changes that fix it, ``; ``-separated."""
TAG_STABILITY_PREDICTORS = "sweeps.stability.predictors"
"""``sweeps status --stability``, on the parent run: the top predictors of divergence."""
TAG_STABILITY_DIVERGED = "sweeps.stability.diverged"
"""``sweeps status --stability``, on the parent run: ``diverged/finished`` trials."""

ROLE_PARENT = "parent"
ROLE_TRIAL = "trial"
ROLE_TRAIN = "train"

RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED"}
"""Optuna trial state -> MLflow run status."""

# -- artifacts --------------------------------------------------------------------------------
ARTIFACT_PARAMS = "params.yaml"
ARTIFACT_HISTORY = "history.csv"
ARTIFACT_PREFLIGHT = "preflight.json"
ARTIFACT_ERROR = "error.txt"
ARTIFACT_TRIALS = "trials.csv"
ARTIFACT_REPORT = "report.html"
ARTIFACT_CURVE = "learning_curve.html"
ARTIFACT_DOCTOR_TABLE = "doctor.csv"
ARTIFACT_DOCTOR_JSON = "doctor.json"
ARTIFACT_STABILITY_MAP = "stability.csv"
ARTIFACT_STABILITY_JSON = "stability.json"
ARTIFACT_DATA = "data.json"
"""A table's classes and features, and any feature scaling (see ``data_artifacts``)."""
ARTIFACT_MODEL = "model"
"""An MLflow model (Keras flavour): the best trials' networks and ``sweeps train``'s."""
TAG_MODEL = "sweeps.model"
"""On a run that has :data:`ARTIFACT_MODEL`: the model's URI (``runs:/<id>/model``)."""
