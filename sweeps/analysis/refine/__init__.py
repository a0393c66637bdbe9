"""``sweeps refine STUDY --out refined.yaml``: a study's failures made into its next space.

A sweep reports which trials diverged, exploded, saturated or got stuck; what the user
did next was by hand: cut the learning rate, drop the activation that never worked, run
again. Refine does it from the evidence (:mod:`.evidence`), decides the changes
(:mod:`.plan`: choices dropped, ranges cut for all trials or per activation, say) and
writes them as a space file with each change commented (:mod:`.space_file`). The file is
also stored on the study's parent run (``refined_space.yaml``), and the refined study
records which study it came from (``study.refined_from``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from sweeps.analysis.refine.evidence import (
    TOLERANCE,
    Point,
    counted,
    outcome_of,
    points,
    wasted,
)
from sweeps.analysis.refine.plan import Plan, plan
from sweeps.analysis.refine.space_file import refined_mapping, render
from sweeps.space import SearchSpace, parse_space

NOTHING_TO_CUT = "Nothing to cut: no choice or range end held enough failed trials."


@dataclass(frozen=True)
class Refinement:
    """The refined space of a study: what changed, why, and the file's text."""

    study: str
    name: str
    points: tuple[Point, ...]
    plan: Plan
    mapping: dict[str, Any]
    text: str
    tolerance: float

    @property
    def wasted(self) -> Counter[str]:
        """The original study's wasted trials per outcome (:data:`.evidence.WASTED_LABELS`)."""
        return wasted(self.points)

    @property
    def wasted_share(self) -> float:
        return sum(self.wasted.values()) / len(self.points) if self.points else 0.0

    @property
    def still_in(self) -> int:
        """The study's finished trials that the refined space still holds."""
        return len(self.plan.left)

    def changes(self) -> list[str]:
        """Every change as one line of evidence, in the order it was decided."""
        lines = [d.evidence(self.tolerance) for d in self.plan.drops]
        for cut in self.plan.ranges:
            lines.extend(cut.evidence())
        return lines


def refine(
    study: optuna.Study,
    raw: Mapping[str, Any],
    space: SearchSpace,
    *,
    name: str | None = None,
    tolerance: float = TOLERANCE,
) -> Refinement:
    """Refine ``study`` (run over ``space``, read from the mapping ``raw``)."""
    pts = points(study, tolerance=tolerance)
    changes = plan(space, pts)
    new_name = name or f"{study.study_name}-refined"
    mapping, comments = refined_mapping(
        raw, space, changes, name=new_name, origin=study.study_name, tolerance=tolerance
    )
    lost = wasted(pts)
    header = [
        f"Refined by `sweeps refine {study.study_name}` on {dt.date.today().isoformat()} "
        f"from {len(pts)} finished trials",
        f"({sum(lost.values())} wasted: {counted(lost)}); {len(changes.drops)} choice(s) dropped, "
        f"{len(changes.ranges)} range(s) cut; {len(changes.left)} of the trials fit in it.",
        "Each change says what decided it and what it was: put that back to undo it.",
        f"Run where '{study.study_name}' is stored, the new study starts with its trials that "
        "fit in this space (copied, not run again).",
    ]
    if not changes.drops and not changes.ranges:
        header.append(NOTHING_TO_CUT)
    text = render(mapping, comments, header)
    parse_space(mapping, source=f"refined from '{study.study_name}'")  # a bug if it fails
    return Refinement(study.study_name, new_name, tuple(pts), changes, mapping, text, tolerance)


__all__ = ["NOTHING_TO_CUT", "TOLERANCE", "Refinement", "outcome_of", "refine"]
