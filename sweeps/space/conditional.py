"""Bounds that depend on other parameters: ``when:`` in a float or int spec.

A learning rate that is safe with ReLU diverges with sigmoid and MSE; one range for both
wastes trials on the part that only fails for one of them. ``when`` narrows the range
for the trials whose categorical parameters match, the first matching rule winning, the
spec's own ``low``/``high`` for every other trial::

    learning_rate:
      type: float
      low: 0.001
      high: 30.0
      log: true
      when:
        - if: {activation: sigmoid, loss: [mse, quadratic]}
          high: 2.1
        - if: {activation: relu}
          low: 0.01
          high: 0.5

The parameter is then sampled define-by-run, after the ones it depends on (Optuna lets a
float's bounds move between trials; its kind and log scale stay). ``sweeps refine``
writes these from a study's failures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from sweeps.space.checks import fmt, unknown_key
from sweeps.space.distributions import parse_spec
from trainer.config import SHAPE_FIELDS

Range = FloatDistribution | IntDistribution
_RULE_KEYS = ("if", "low", "high")


@dataclass(frozen=True)
class Rule:
    """``if`` every named parameter takes one of its values, draw from ``distribution``."""

    match: tuple[tuple[str, tuple[Any, ...]], ...]
    distribution: Range

    def matches(self, params: Mapping[str, Any]) -> bool:
        return all(params.get(name) in values for name, values in self.match)

    def to_json(self) -> dict[str, Any]:
        return {
            "if": {name: list(values) for name, values in self.match},
            "low": self.distribution.low,
            "high": self.distribution.high,
        }


@dataclass(frozen=True)
class Conditional:
    """A float or int parameter whose bounds depend on categorical ones."""

    name: str
    base: Range
    rules: tuple[Rule, ...]

    @property
    def depends_on(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for rule in self.rules for n, _ in rule.match))

    def distribution_for(self, params: Mapping[str, Any]) -> Range:
        """The range a trial with (decoded) ``params`` draws from."""
        for rule in self.rules:
            if rule.matches(params):
                return rule.distribution
        return self.base

    def suggest(self, trial: optuna.Trial, params: Mapping[str, Any]) -> float | int:
        dist = self.distribution_for(params)
        if isinstance(dist, IntDistribution):
            return trial.suggest_int(self.name, dist.low, dist.high, step=dist.step, log=dist.log)
        return trial.suggest_float(self.name, dist.low, dist.high, step=dist.step, log=dist.log)

    def to_json(self) -> dict[str, Any]:
        return {
            "base": optuna.distributions.distribution_to_json(self.base),
            "rules": [rule.to_json() for rule in self.rules],
        }


def parse_when(
    name: str,
    spec: Mapping[str, Any],
    base: BaseDistribution,
    categorical: Mapping[str, list[Any]],
    path: str,
    problems: list[str],
) -> Conditional | None:
    """The :class:`Conditional` of ``spec['when']`` (``base``: the spec's own range;
    ``categorical``: every swept categorical parameter's decoded choices); ``None`` with
    each problem appended to ``problems``."""
    where = f"{path}.when"
    before = len(problems)
    if name in SHAPE_FIELDS:
        problems.append(
            f"{where}: bounds that depend on other parameters are for parameters trials may "
            f"differ in within one graph, not {name} (a shape field)"
        )
        return None
    if not isinstance(base, FloatDistribution | IntDistribution):
        problems.append(f"{where}: only a float or int parameter takes when, got {name}")
        return None
    rules_raw = spec["when"]
    if not isinstance(rules_raw, list) or not rules_raw:
        problems.append(f"{where}: must be a non-empty list of rules, got {fmt(rules_raw)}")
        return None
    rules = []
    for i, raw in enumerate(rules_raw):
        rule = _parse_rule(name, spec, base, raw, categorical, f"{where}[{i}]", problems)
        if rule is not None:
            rules.append(rule)
    if len(problems) > before:
        return None
    return Conditional(name, base, tuple(rules))


def _parse_rule(
    name: str,
    spec: Mapping[str, Any],
    base: Range,
    raw: Any,
    categorical: Mapping[str, list[Any]],
    where: str,
    problems: list[str],
) -> Rule | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a mapping with if and low/high, got {fmt(raw)}")
        return None
    before = len(problems)
    for key in raw:
        if key not in _RULE_KEYS:
            problems.append(unknown_key(str(key), list(_RULE_KEYS), f"{where}."))
    match = _parse_if(raw.get("if"), categorical, f"{where}.if", problems)
    if "low" not in raw and "high" not in raw:
        problems.append(f"{where}: must set low or high (or both)")
    if len(problems) > before or match is None:
        return None
    sub = {k: v for k, v in spec.items() if k != "when"}
    sub.update({k: raw[k] for k in ("low", "high") if k in raw})
    dist, _ = parse_spec(name, sub, where, problems)
    if not isinstance(dist, FloatDistribution | IntDistribution):
        return None
    if dist.low < base.low or dist.high > base.high:
        problems.append(
            f"{where}: must lie within the parameter's own range [{base.low:g}, {base.high:g}], "
            f"got [{dist.low:g}, {dist.high:g}]"
        )
        return None
    return Rule(match, dist)


def _parse_if(
    raw: Any, categorical: Mapping[str, list[Any]], where: str, problems: list[str]
) -> tuple[tuple[str, tuple[Any, ...]], ...] | None:
    if not isinstance(raw, Mapping) or not raw:
        problems.append(
            f"{where}: must map swept categorical parameters to a value or a list of values, "
            f"got {fmt(raw)}"
        )
        return None
    match = []
    for other, wanted in raw.items():
        if other not in categorical:
            known = ", ".join(categorical) or "none in this space"
            problems.append(
                f"{where}.{other}: must be a swept categorical parameter ({known}), got "
                f"{fmt(other)}"
            )
            continue
        values = wanted if isinstance(wanted, list) else [wanted]
        missing = [v for v in values if v not in categorical[other]]
        if not values or missing:
            choices = ", ".join(map(str, categorical[other]))
            problems.append(
                f"{where}.{other}: must be among its choices ({choices}), got {fmt(wanted)}"
            )
            continue
        match.append((str(other), tuple(values)))
    return tuple(match) if len(match) == len(raw) else None


def categorical_choices(distributions: Mapping[str, BaseDistribution]) -> dict[str, list[Any]]:
    """Every swept categorical parameter's choices (as sampled: list choices encoded)."""
    return {
        name: list(dist.choices)
        for name, dist in distributions.items()
        if isinstance(dist, CategoricalDistribution)
    }


__all__ = ["Conditional", "Rule", "categorical_choices", "parse_when"]
