"""Running studies: the sweep loop, the trial session, the population engine's glue,
liveness (heartbeats, stale trials) and local worker processes.

Everything here reaches Optuna and MLflow through :mod:`sweeps.store` only.
"""

from sweeps.runner.session import TrialReport, TrialSession
from sweeps.runner.single import run_trial, update_parent
from sweeps.runner.sweep import SweepSummary, SweepView, run_sweep

__all__ = [
    "SweepSummary",
    "SweepView",
    "TrialReport",
    "TrialSession",
    "run_sweep",
    "run_trial",
    "update_parent",
]
