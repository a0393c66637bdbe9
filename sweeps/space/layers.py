"""``hidden_layers`` as a depth x width space, sampled define-by-run.

A layer that does not exist in a trial never reaches the sampler: the depth is drawn
first, then one width per existing layer (or one width shared by all)::

    hidden_layers: {depth: {low: 1, high: 3}, width: {low: 16, high: 256, log: true},
                    per_layer: true}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from sweeps.space.checks import fmt, unknown_key
from sweeps.space.distributions import parse_spec

LAYER_DEPTH_PARAM = "n_layers"
LAYER_WIDTH_PARAM = "width"
"""Optuna parameter names of a depth x width space: ``n_layers``, then ``width`` (shared)
or ``width_0`` .. ``width_{n-1}`` (one per existing layer)."""
_LAYER_KEYS = ("depth", "width", "per_layer")
_DEPTH_KEYS = ("low", "high")
_WIDTH_KEYS = ("low", "high", "log", "step", "choices")


@dataclass(frozen=True)
class LayerSpace:
    """``hidden_layers`` as a number of layers and their widths (conditional parameters)."""

    depth_low: int
    depth_high: int
    width: BaseDistribution
    per_layer: bool = True

    def suggest(self, trial: optuna.Trial) -> tuple[int, ...]:
        """Sample the depth, then one width per existing layer (or one shared width)."""
        depth = trial.suggest_int(LAYER_DEPTH_PARAM, self.depth_low, self.depth_high)
        if not self.per_layer:
            return (_suggest_width(trial, LAYER_WIDTH_PARAM, self.width),) * depth
        return tuple(
            _suggest_width(trial, f"{LAYER_WIDTH_PARAM}_{i}", self.width) for i in range(depth)
        )

    def decode(self, suggested: Mapping[str, Any]) -> tuple[int, ...] | None:
        """The architecture from sampled values, ``None`` when they hold no depth."""
        if LAYER_DEPTH_PARAM not in suggested:
            return None
        depth = int(suggested[LAYER_DEPTH_PARAM])
        if not self.per_layer:
            return (int(suggested[LAYER_WIDTH_PARAM]),) * depth
        return tuple(int(suggested[f"{LAYER_WIDTH_PARAM}_{i}"]) for i in range(depth))

    def is_param(self, name: str) -> bool:
        return name == LAYER_DEPTH_PARAM or name.startswith(LAYER_WIDTH_PARAM)

    def architecture_count(self) -> float:
        """How many distinct architectures the space holds (``inf`` when huge)."""
        if isinstance(self.width, CategoricalDistribution):
            n = float(len(self.width.choices))
        else:
            assert isinstance(self.width, IntDistribution)
            n = float((self.width.high - self.width.low) // self.width.step + 1)
        depths = range(self.depth_low, self.depth_high + 1)
        return float(sum(n ** (d if self.per_layer else 1) for d in depths))

    def largest(self) -> tuple[int, ...]:
        """The widest, deepest architecture (memory sizing of a population)."""
        if isinstance(self.width, CategoricalDistribution):
            top = max(int(c) for c in self.width.choices)  # type: ignore[arg-type]
        else:
            assert isinstance(self.width, IntDistribution)
            top = self.width.high
        return (top,) * self.depth_high

    def to_json(self) -> dict[str, Any]:
        return {
            "depth": [self.depth_low, self.depth_high],
            "width": optuna.distributions.distribution_to_json(self.width),
            "per_layer": self.per_layer,
        }


def _suggest_width(trial: optuna.Trial, name: str, dist: BaseDistribution) -> int:
    if isinstance(dist, CategoricalDistribution):
        return int(trial.suggest_categorical(name, dist.choices))  # type: ignore[arg-type]
    assert isinstance(dist, IntDistribution)
    return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)


def parse_layers(spec: Mapping[str, Any], path: str, problems: list[str]) -> LayerSpace | None:
    """``{depth: {low, high}, width: {low, high, log, step} | {choices}, per_layer}``."""
    before = len(problems)
    for key in spec:
        if key not in _LAYER_KEYS:
            problems.append(unknown_key(str(key), list(_LAYER_KEYS), f"{path}."))
    depth, width = spec.get("depth"), spec.get("width")
    for key, val in (("depth", depth), ("width", width)):
        if not isinstance(val, Mapping):
            problems.append(
                f"{path}.{key}: must be a mapping such as {{low: 1, high: 3}}, got {fmt(val)}"
            )
    per_layer = spec.get("per_layer", True)
    if not isinstance(per_layer, bool):
        problems.append(f"{path}.per_layer: must be true or false, got {fmt(per_layer)}")
    if len(problems) > before:
        return None
    assert isinstance(depth, Mapping) and isinstance(width, Mapping)
    for key in depth:
        if key not in _DEPTH_KEYS:
            problems.append(unknown_key(str(key), list(_DEPTH_KEYS), f"{path}.depth."))
    for key in width:
        if key not in _WIDTH_KEYS:
            problems.append(unknown_key(str(key), list(_WIDTH_KEYS), f"{path}.width."))
    d_low: Any = depth.get("low")
    d_high: Any = depth.get("high")
    for key, val in (("low", d_low), ("high", d_high)):
        if not isinstance(val, int) or isinstance(val, bool) or not 1 <= val <= 16:
            problems.append(f"{path}.depth.{key}: must be an integer from 1 to 16, got {fmt(val)}")
    if len(problems) == before and d_low > d_high:
        problems.append(f"{path}.depth: low must be <= high, got low={d_low} high={d_high}")
    dist = _parse_width(width, path, problems, before)
    if len(problems) > before or dist is None:
        return None
    return LayerSpace(int(d_low), int(d_high), dist, per_layer)


def _parse_width(
    width: Mapping[str, Any], path: str, problems: list[str], before: int
) -> BaseDistribution | None:
    """The width distribution: distinct ``choices``, or an int range within 1..100000."""
    if "choices" in width:
        extra = [k for k in width if k != "choices"]
        if extra:
            problems.append(f"{path}.width: choices cannot be used with {', '.join(extra)}")
        choices = width["choices"]
        if (
            not isinstance(choices, list)
            or not choices
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in choices)
            or not all(1 <= c <= 100_000 for c in choices)
            or len(set(choices)) != len(choices)
        ):
            problems.append(
                f"{path}.width.choices: must be distinct integers from 1 to 100000, "
                f"got {fmt(choices)}"
            )
        return None if len(problems) > before else CategoricalDistribution(list(choices))
    dist, _ = parse_spec(
        "width", {"type": "int", **width}, f"{path}.width", problems, trainer=False
    )
    if isinstance(dist, IntDistribution) and not 1 <= dist.low <= dist.high <= 100_000:
        problems.append(
            f"{path}.width: must lie from 1 to 100000 units, got low={dist.low} high={dist.high}"
        )
    return dist
