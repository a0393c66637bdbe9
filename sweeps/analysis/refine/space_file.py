"""A :class:`~.plan.Plan` written as the next search-space file, every change commented.

The file is the original with the changes applied: the same ``study:`` settings under a
new name with ``refined_from``, the same fixed parameters, and each changed parameter
preceded by comments that say what decided the change and what it was before, so a
person can read it and undo any one of them. It is validated as a space before it is
returned: ``sweeps run refined.yaml`` takes it as is."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import yaml
from optuna.distributions import FloatDistribution, IntDistribution

from sweeps.analysis.refine.evidence import Cut
from sweeps.analysis.refine.plan import Plan, RangeCut
from sweeps.space import SearchSpace

Comments = dict[str, list[str]]


def refined_mapping(
    raw: Mapping[str, Any],
    space: SearchSpace,
    changes: Plan,
    *,
    name: str,
    origin: str,
    tolerance: float,
) -> tuple[dict[str, Any], Comments]:
    """The refined file's mapping and, per parameter, the comments above it."""
    study = dict(raw.get("study") or {})
    study["name"] = name
    study["refined_from"] = origin
    params = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in raw["params"].items()}
    comments: Comments = {}
    for drop in changes.drops:
        spec = params[drop.param]
        before = list(spec["choices"])
        spec["choices"] = [c for c in spec["choices"] if c != drop.choice]
        comments.setdefault(drop.param, []).append(drop.evidence(tolerance))
        comments.setdefault(f"{drop.param}:was", [f"was: choices {_inline(before)}"])
    for cut in changes.ranges:
        dist = space.distributions[cut.param]
        assert isinstance(dist, FloatDistribution | IntDistribution)
        spec = params[cut.param]
        raw_spec = raw["params"][cut.param]
        was = f"was: low {_inline(raw_spec['low'])}, high {_inline(raw_spec['high'])}"
        comments.setdefault(cut.param, []).extend(cut.evidence())
        if cut.by is None:
            spec.update(_bounds(cut.cuts[None], dist))
        else:
            spec["when"] = _rules(cut, dist)
            was += f", for every {cut.by}"
            spec.update(_union(spec, params[cut.by], dist))
        comments[f"{cut.param}:was"] = [was]
    return {"study": study, "params": params}, comments


def _rules(cut: RangeCut, dist: FloatDistribution | IntDistribution) -> list[dict[str, Any]]:
    return [{"if": {cut.by: value}, **_bounds(cuts, dist)} for value, cuts in cut.cuts.items()]


def _union(
    spec: Mapping[str, Any], by_spec: Mapping[str, Any], dist: FloatDistribution | IntDistribution
) -> dict[str, Any]:
    """The spec's own range once every (remaining) choice of the parameter its rules
    match on has a rule: their union, so the file's outer range says what can be drawn."""
    rules = spec["when"]
    covered = [value for r in rules for value in r["if"].values()]
    if not all(c in covered for c in by_spec["choices"]):
        return {}
    lows = [r.get("low", dist.low) for r in rules]
    highs = [r.get("high", dist.high) for r in rules]
    return {"low": min(lows), "high": max(highs)}


def _bounds(cuts: tuple[Cut, ...], dist: FloatDistribution | IntDistribution) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cut in cuts:
        out[cut.side] = _round(cut.value, cut.side, dist)
    return out


def _round(value: float, side: str, dist: FloatDistribution | IntDistribution) -> float | int:
    """A cut as a readable number inside the range: 3 significant digits, on the step's
    grid for a stepped range, an integer for an int one (rounded inwards)."""
    step = dist.step
    if isinstance(dist, IntDistribution) or step is not None:
        grid = float(step or 1)
        k = (value - dist.low) / grid
        k = math.floor(k) if side == "high" else math.ceil(k)
        out: float = dist.low + k * grid
    else:
        out = float(f"{value:.3g}")
    out = min(max(out, dist.low), dist.high)
    return int(out) if isinstance(dist, IntDistribution) else out


def render(mapping: Mapping[str, Any], comments: Comments, header: list[str]) -> str:
    """The refined file's text: header comments, ``study:``, then ``params:`` with each
    changed parameter's comments above it."""
    lines = [f"# {h}" for h in header]
    lines.append("study:")
    lines.extend(f"  {k}: {_inline(v)}" for k, v in mapping["study"].items())
    lines.append("params:")
    for key, value in mapping["params"].items():
        for note in comments.get(key, []):
            lines.append(f"  # {note}")
        for note in comments.get(f"{key}:was", []):
            lines.append(f"  # {note}")
        if isinstance(value, Mapping) and "when" in value:
            lines.append(f"  {key}:")
            lines.extend(f"    {k}: {_inline(v)}" for k, v in value.items() if k != "when")
            lines.append("    when:")
            for rule in value["when"]:
                lines.append(f"      - if: {_inline(rule['if'])}")
                lines.extend(f"        {k}: {_inline(v)}" for k, v in rule.items() if k != "if")
        else:
            lines.append(f"  {key}: {_inline(value)}")
    return "\n".join(lines) + "\n"


def _inline(value: Any) -> str:
    """One value in YAML flow style on one line."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


__all__ = ["refined_mapping", "render"]
