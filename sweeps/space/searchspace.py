"""A validated search space: study settings, what is swept, what is fixed.

:class:`SearchSpace` turns what a sampler drew into a trial's full parameter dict (and
:class:`trainer.TrainConfig`), and fingerprints itself so a resumed study can check that
its file still describes the same space."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from sweeps.space.conditional import Conditional
from sweeps.space.layers import LayerSpace
from sweeps.space.study import StudySettings
from trainer.config import DEFAULTS, TrainConfig


@dataclass(frozen=True)
class SearchSpace:
    """Study settings, Optuna distributions for swept params, and the fixed params."""

    settings: StudySettings
    distributions: dict[str, BaseDistribution]
    fixed: dict[str, Any]
    source: str = ""
    _encoded: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    layers: LayerSpace | None = None
    conditional: dict[str, Conditional] = field(default_factory=dict)
    """Parameters whose bounds depend on others (``when:``), sampled after them."""

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Sample an asked trial's conditional parameters (the depth x width space, the
        bounds under ``when:``) and return its full parameter dict; every place that asks
        a trial goes through here."""
        if self.layers is not None:
            self.layers.suggest(trial)
        if self.conditional:
            drawn = self.params_for(trial.params)
            for cond in self.conditional.values():
                cond.suggest(trial, drawn)
        return self.params_for(trial.params)

    @property
    def swept(self) -> list[str]:
        """Every swept parameter's name, conditional bounds included (not the layers)."""
        return [*self.distributions, *self.conditional]

    def params_for(self, suggested: Mapping[str, Any]) -> dict[str, Any]:
        """Full parameter dict for a trial: defaults <- fixed <- suggested (decoded)."""
        params = dict(DEFAULTS)
        params.update(self.fixed)
        for name, value in suggested.items():
            if self.layers is not None and self.layers.is_param(name):
                continue
            params[name] = self._encoded.get(name, {}).get(value, value)
        if self.layers is not None:
            arch = self.layers.decode(suggested)
            if arch is not None:
                params["hidden_layers"] = list(arch)
        return params

    def extremes(self, name: str) -> list[Any]:
        """The values parameter ``name`` can take at its ends, decoded: every choice of a
        categorical, the low and high of a range, else its fixed (or default) value. The
        data checks and the cohort sizing judge a space by these."""
        dist = self.distributions.get(name)
        if isinstance(dist, CategoricalDistribution):
            codes: Mapping[Any, Any] = self._encoded.get(name, {})
            return [codes.get(c, c) for c in dist.choices]
        if isinstance(dist, FloatDistribution | IntDistribution):
            return [dist.low, dist.high]
        if name in self.conditional:
            return [self.conditional[name].base.low, self.conditional[name].base.high]
        return [self.fixed.get(name, DEFAULTS[name])]

    def config_for(self, suggested: Mapping[str, Any]) -> TrainConfig:
        return TrainConfig.from_dict(self.params_for(suggested))

    def fingerprint(self) -> str:
        """Stable JSON of what makes two spaces compatible (used when resuming)."""
        dists = {
            n: optuna.distributions.distribution_to_json(d)
            for n, d in sorted(self.distributions.items())
        }
        extra: dict[str, Any] = {}  # only what is new, so older studies still resume
        if self.settings.multi:
            extra = {"metrics": self.settings.metrics, "directions": self.settings.directions}
        if self.layers is not None:
            extra["layers"] = self.layers.to_json()
        if self.conditional:
            extra["conditional"] = {n: c.to_json() for n, c in sorted(self.conditional.items())}
        return json.dumps(
            {
                **extra,
                "distributions": dists,
                "fixed": self.fixed,
                "metric": self.settings.metric,
                "direction": self.settings.direction,
            },
            sort_keys=True,
            default=str,
        )
