"""A training result's diagnosis as trial user attributes and MLflow tags.

Every run carries its outcome labels (all that apply, most important first), the
numbers behind them and its pre-flight warnings:

* trial user attributes ``labels`` (list), ``evidence`` (dict of finite numbers) and
  ``preflight`` (list of ``{code, message, numbers}``);
* MLflow tags ``sweeps.labels`` (comma-separated), ``sweeps.evidence.<name>`` (one per
  number) and ``sweeps.preflight`` (comma-separated warning codes), plus the artifact
  ``preflight.json`` when there is a warning.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable
from typing import Any

from sweeps.store.schema import (
    ARTIFACT_DATA,
    ARTIFACT_PREFLIGHT,
    ATTR_EVIDENCE,
    ATTR_LABELS,
    ATTR_PREFLIGHT,
    TAG_EVIDENCE,
    TAG_LABELS,
    TAG_PREFLIGHT,
)
from trainer.data import Dataset
from trainer.preflight import PreflightWarning
from trainer.results import TrainResult


def evidence_numbers(result: TrainResult) -> dict[str, float]:
    """The outcome's evidence, finite numbers only (JSON- and tag-friendly)."""
    out: dict[str, float] = {}
    for key, value in result.outcome.evidence.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[str(key)] = number
    return out


def diagnosis_attrs(result: TrainResult) -> dict[str, Any]:
    """User attributes for an Optuna trial."""
    return {
        ATTR_LABELS: list(result.outcome.labels),  # never empty: at least ``label``
        ATTR_EVIDENCE: evidence_numbers(result),
        ATTR_PREFLIGHT: [w.to_dict() for w in result.warnings],
    }


def diagnosis_tags(result: TrainResult) -> dict[str, str]:
    """MLflow tags for the run: labels, one tag per evidence number, warning codes."""
    tags = {TAG_LABELS: ",".join(result.outcome.labels)}
    for key, value in evidence_numbers(result).items():
        tags[TAG_EVIDENCE + key] = f"{value:.6g}"
    if result.warnings:
        tags[TAG_PREFLIGHT] = ",".join(w.code for w in result.warnings)
    return tags


def diagnosis_artifacts(result: TrainResult) -> dict[str, str]:
    """``preflight.json`` when the run had pre-flight warnings."""
    if not result.warnings:
        return {}
    return {ARTIFACT_PREFLIGHT: json.dumps([w.to_dict() for w in result.warnings], indent=2)}


def warning_lines(warnings: Iterable[PreflightWarning]) -> list[str]:
    """One printable line per pre-flight warning."""
    return [f"warning [{w.code}]: {w.message}" for w in warnings]


def data_artifacts(data: Dataset) -> dict[str, str]:
    """``data.json`` for a table or scaled data: the label values in class-index order
    (so predictions map back) and the feature scaling, which a served model applies.
    Written once per dataset: every trial on it ends with the same text."""
    return dict(_data_artifacts(data))


@functools.lru_cache(maxsize=16)
def _data_artifacts(data: Dataset) -> tuple[tuple[str, str], ...]:
    info: dict[str, Any] = {}
    if data.classes:
        info["classes"] = list(data.classes)
        info["features"] = list(data.features)
    if data.scaling is not None:
        offset, factor = data.scaling
        info["scaling"] = {"offset": offset.tolist(), "factor": factor.tolist()}
    return ((ARTIFACT_DATA, json.dumps(info, default=str)),) if info else ()
