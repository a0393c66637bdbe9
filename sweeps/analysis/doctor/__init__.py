"""``sweeps doctor``: train a config briefly, label it, and rank single changes that fix it.

The doctor is an ordinary, small Optuna study with every probe an MLflow child run
(study ``doctor-<hash>``, the hash of the config and the probe budget), so everything it
tried is in the store like any sweep. Nothing is sampled: each trial is handed its config
and trained through the same trial session as a sweep's trials:

1. the config as given (the baseline), trained for at most :data:`MAX_EPOCHS` epochs on
   at most :data:`MAX_TRAIN` training examples;
2. one-factor-at-a-time changes around it (:func:`candidate_changes`): the hidden
   activation, the output activation (for ``mse``/``quadratic``, or ``crossentropy`` on a
   linear output), the initializer, the init scale, the learning rate (/10, /100,
   /1000, x10), the loss (``crossentropy`` with softmax) and the optimizer.

A change *fixes* the config when its run is ``ok`` and the baseline's is not. The table
ranks fixes first, then by validation accuracy (the last epoch's, also for a run that
diverged: the weights before the non-finite step). Running the doctor again on the same
config and budget reuses the finished probes of its study.

:mod:`.changes` says what is tried, :mod:`.runner` trains each probe as a trial of the
doctor's study and stores the report, :mod:`.findings` ranks the probes and puts their
evidence in words.
"""

from sweeps.analysis.doctor.changes import FACTORS, Change, candidate_changes
from sweeps.analysis.doctor.findings import (
    MILD,
    DoctorReport,
    ProbeResult,
    evidence_text,
    is_fix,
    rank,
    report_rows,
)
from sweeps.analysis.doctor.runner import (
    BASELINE,
    MAX_EPOCHS,
    MAX_TEST,
    MAX_TRAIN,
    DoctorView,
    doctor_space,
    doctor_study_name,
    run_doctor,
)

__all__ = [
    "BASELINE",
    "FACTORS",
    "MAX_EPOCHS",
    "MAX_TEST",
    "MAX_TRAIN",
    "MILD",
    "Change",
    "DoctorReport",
    "DoctorView",
    "ProbeResult",
    "candidate_changes",
    "doctor_space",
    "doctor_study_name",
    "evidence_text",
    "is_fix",
    "rank",
    "report_rows",
    "run_doctor",
]
