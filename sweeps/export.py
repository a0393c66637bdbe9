"""Read a study back: the trials table (with MLflow run ids) and the best config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from sweeps.errors import UserError
from sweeps.files import write_mapping
from sweeps.study import best_trial, state_counts, trial_params

_ATTRS = ("outcome", "reason", "mlflow_run_id", "test_accuracy", "epochs_run", "wall_time")


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value, outcome, reason, params, MLflow run id."""
    rows: list[dict[str, Any]] = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
        }
        for key in _ATTRS:
            row[key] = t.user_attrs.get(key)
        row["datetime_start"] = t.datetime_start
        row["duration_s"] = t.duration.total_seconds() if t.duration else None
        for name, value in sorted(t.params.items()):
            row[f"param_{name}"] = value
        rows.append(row)
    columns = ["number", "state", "value", *_ATTRS, "datetime_start", "duration_s"]
    frame = pd.DataFrame(rows)
    return frame if rows else pd.DataFrame(columns=columns)


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
