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

import json
import math
from typing import Any

from sweeps.store.schema import (
    ARTIFACT_PREFLIGHT,
    ATTR_EVIDENCE,
    ATTR_LABELS,
    ATTR_PREFLIGHT,
    TAG_EVIDENCE,
    TAG_LABELS,
    TAG_PREFLIGHT,
)


def evidence_numbers(result: Any) -> dict[str, float]:
    """The outcome's evidence, finite numbers only (JSON- and tag-friendly)."""
    out: dict[str, float] = {}
    for key, value in getattr(result.outcome, "evidence", {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[str(key)] = number
    return out


def outcome_labels(result: Any) -> tuple[str, ...]:
    labels = tuple(getattr(result.outcome, "labels", ()) or ())
    return labels or (result.outcome.label,)


def warnings_of(result: Any) -> tuple[Any, ...]:
    return tuple(getattr(result, "warnings", ()) or ())


def diagnosis_attrs(result: Any) -> dict[str, Any]:
    """User attributes for an Optuna trial."""
    return {
        ATTR_LABELS: list(outcome_labels(result)),
        ATTR_EVIDENCE: evidence_numbers(result),
        ATTR_PREFLIGHT: [w.to_dict() for w in warnings_of(result)],
    }


def diagnosis_tags(result: Any) -> dict[str, str]:
    """MLflow tags for the run: labels, one tag per evidence number, warning codes."""
    tags = {TAG_LABELS: ",".join(outcome_labels(result))}
    for key, value in evidence_numbers(result).items():
        tags[TAG_EVIDENCE + key] = f"{value:.6g}"
    warnings = warnings_of(result)
    if warnings:
        tags[TAG_PREFLIGHT] = ",".join(w.code for w in warnings)
    return tags


def diagnosis_artifacts(result: Any) -> dict[str, str]:
    """``preflight.json`` when the run had pre-flight warnings."""
    warnings = warnings_of(result)
    if not warnings:
        return {}
    return {ARTIFACT_PREFLIGHT: json.dumps([w.to_dict() for w in warnings], indent=2)}


def warning_lines(warnings: Any) -> list[str]:
    """One printable line per pre-flight warning."""
    return [f"warning [{w.code}]: {w.message}" for w in warnings]
