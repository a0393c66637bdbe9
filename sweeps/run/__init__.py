"""Running studies: the sweep loop, the trial session, the population engine's glue,
liveness (heartbeats, stale trials) and local worker processes.

Everything here reaches Optuna and MLflow through :mod:`sweeps.store` only.
"""

from sweeps.run.session import TrialReport, TrialSession
from sweeps.run.single import run_trial, update_parent
from sweeps.run.sweep import SweepSummary, SweepView, run_sweep

__all__ = [
    "SweepSummary",
    "SweepView",
    "TrialReport",
    "TrialSession",
    "run_sweep",
    "run_trial",
    "update_parent",
]
