"""``sweeps export`` / ``sweeps trials``: the best config as a retrainable file, every
trial as a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

from sweeps.errors import UserError
from sweeps.files import write_mapping
from sweeps.store import best_trial, state_counts, trial_params, trials_frame


def write_trials(study: optuna.Study, out: Path) -> Path:
    """Write the trials table as ``.csv`` or ``.parquet`` (by suffix)."""
    frame = trials_frame(study)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise UserError(f"--out: must end in .csv or .parquet, got '{out}'")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)
    return out


def best_config(study: optuna.Study) -> tuple[optuna.trial.FrozenTrial, dict[str, Any]]:
    best = best_trial(study)
    if best is None:
        counts = state_counts(study.get_trials(deepcopy=False))
        summary = ", ".join(f"{k.lower()}={v}" for k, v in counts.items() if v)
        raise UserError(
            f"study '{study.study_name}': no completed trial to export ({summary or 'no trials'})"
        )
    return best, trial_params(best)


def export_best(study: optuna.Study, out: Path, fmt: str | None = None) -> tuple[Path, Any]:
    """Write the best trial's full parameter dict, retrainable by ``sweeps train``."""
    best, params = best_config(study)
    return write_mapping(params, out, fmt), best
