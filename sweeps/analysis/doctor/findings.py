"""What the doctor found: how each probe did (:class:`ProbeResult`), which changes fix the
baseline, the probes ranked, the numbers behind each label in words, and the report's
rows (``doctor.csv`` / ``doctor.json``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trainer.outcome import LABELS

MILD = ("dead_units", "saturated")
"""Labels of a run that learns, with a warning; every other label but ``ok`` is a failure."""


@dataclass(frozen=True)
class ProbeResult:
    """How the baseline or one change did."""

    change: str
    factor: str
    outcome: str
    labels: tuple[str, ...]
    val_accuracy: float | None
    test_accuracy: float | None
    reason: str
    evidence: dict[str, float] = field(default_factory=dict)
    trial_number: int = -1
    run_id: str = ""

    @property
    def score(self) -> float:
        v = self.val_accuracy
        return v if v is not None and math.isfinite(v) else -1.0

    @property
    def learns(self) -> bool:
        """``ok``, or learning with only a mild label (dead units, saturation)."""
        return self.outcome == "ok" or self.outcome in MILD


@dataclass(frozen=True)
class DoctorReport:
    """The doctor's findings: the baseline, every probe (ranked) and the fixes."""

    study_name: str
    epochs: int
    baseline: ProbeResult
    probes: tuple[ProbeResult, ...]
    warnings: tuple[Any, ...] = ()

    @property
    def fixes(self) -> tuple[ProbeResult, ...]:
        """Changes that fix the baseline, best first (see :func:`is_fix`)."""
        return tuple(p for p in self.probes if is_fix(self.baseline, p))

    def by_change(self) -> dict[str, ProbeResult]:
        return {p.change: p for p in self.probes}


def is_fix(baseline: ProbeResult, probe: ProbeResult) -> bool:
    """A change fixes a failing run (diverged, exploded, symmetric, stuck, slow) when its run
    learns (``ok``, or only a mild label remains: dead units, saturation); it fixes a
    run with a mild label when its run is ``ok``."""
    if baseline.outcome == "ok":
        return False
    if baseline.outcome in MILD:
        return probe.outcome == "ok"
    return probe.learns


def rank(probes: Sequence[ProbeResult]) -> list[ProbeResult]:
    """Runs that learn first, then by validation accuracy, then the milder outcome first."""

    def severity(p: ProbeResult) -> int:
        return -LABELS.index(p.outcome) if p.outcome in LABELS else -len(LABELS) - 1

    return sorted(probes, key=lambda p: (not p.learns, -p.score, severity(p)))


def evidence_text(p: ProbeResult) -> str:
    """The numbers behind a probe's label, then its other labels."""
    ev = p.evidence
    nan = float("nan")
    label = p.outcome
    if label == "diverged" and "epoch" in ev:
        text = f"non-finite at epoch {int(ev['epoch'])} batch {int(ev['batch'])}"
    elif label == "exploded":
        ratios = []
        if ev.get("loss_ratio", 0) > 1:
            ratios.append(f"loss x{ev['loss_ratio']:.2g} of initial")
        if ev.get("grad_spike_ratio", 0) > 1:
            ratios.append(f"grad norm x{ev['grad_spike_ratio']:.2g} of its running median")
        text = ", ".join(ratios) or p.reason[:80]
    elif label == "symmetric":
        text = f"{int(ev.get('symmetric_layers', 0))} layer(s) of identical units"
    elif label == "stuck":
        text = (
            f"test acc {ev.get('test_accuracy', nan):.3f} <= chance "
            f"{ev.get('chance_accuracy', nan):.3f}+margin"
        )
    elif label == "slow":
        text = (
            f"loss falling ({ev.get('loss_drop', nan):.1%} below initial) but test acc "
            f"{ev.get('test_accuracy', nan):.3f} still at chance"
        )
    elif label == "dead_units":
        text = f"{ev.get('dead_fraction', nan):.0%} of ReLUs dead"
    elif label == "saturated":
        text = f"{ev.get('saturated_fraction', nan):.0%} of units saturated"
    elif label == "ok" and p.test_accuracy is not None:
        text = f"test acc {p.test_accuracy:.3f}"
    else:
        text = p.reason[:80]
    others = [name for name in p.labels if name != label]
    return text + (f" (+{', '.join(others)})" if others else "")


def report_rows(report: DoctorReport) -> list[dict[str, Any]]:
    base = report.baseline
    rows = []
    for i, p in enumerate([base, *report.probes]):
        rows.append(
            {
                "rank": i,
                "change": p.change,
                "factor": p.factor,
                "outcome_before": base.outcome,
                "outcome": p.outcome,
                "labels": ",".join(p.labels),
                "val_accuracy": p.val_accuracy,
                "delta_val_accuracy": (
                    p.val_accuracy - base.val_accuracy
                    if p.val_accuracy is not None and base.val_accuracy is not None
                    else None
                ),
                "fixes": is_fix(base, p),
                "evidence": evidence_text(p),
                "trial": p.trial_number,
                "mlflow_run_id": p.run_id,
            }
        )
    return rows
