"""Samplers by name: each one runs a depth x width space seeded (same seed, same trials),
and a space a sampler cannot handle is refused at parse time in one line."""

from __future__ import annotations

import importlib.util
from typing import Any

import optuna
import pytest

from sweeps.errors import UserError
from sweeps.space import parse_space
from sweeps.store import make_pruner, make_sampler

LAYERS = {"depth": {"low": 1, "high": 2}, "width": {"low": 8, "high": 64, "log": True}}
LR = {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}
ACT = {"type": "categorical", "choices": ["relu", "tanh"]}


def _space(sampler: str, params: dict[str, Any], **study: Any):
    return parse_space(
        {"study": {"name": "s", "sampler": sampler, "seed": 7, **study}, "params": params}
    )


def _run(space, n: int = 8) -> list[dict[str, Any]]:
    s = space.settings
    study = optuna.create_study(
        sampler=make_sampler(s, conditional=space.layers is not None),
        pruner=make_pruner(s),
        directions=list(s.objective_directions),
    )
    out = []
    for _ in range(n):
        trial = study.ask(fixed_distributions=space.distributions)
        params = space.suggest(trial)
        score = params["learning_rate"] * sum(params["hidden_layers"])
        study.tell(trial, [score, len(params["hidden_layers"])] if s.multi else score)
        out.append(params)
    return out


SINGLE = ["tpe", "random", "qmc", "cmaes"] + (
    ["gp"] if importlib.util.find_spec("torch") is not None else []
)


@pytest.mark.parametrize("sampler", SINGLE)
def test_single_objective_samplers_are_seeded(sampler: str) -> None:
    space = _space(sampler, {"hidden_layers": LAYERS, "learning_rate": LR, "activation": ACT})
    first, again = _run(space), _run(space)
    assert first == again
    assert len({str(p["hidden_layers"]) for p in first}) > 1


@pytest.mark.parametrize("sampler", ["nsgaii", "tpe", "random"])
def test_multi_objective_samplers(sampler: str) -> None:
    space = _space(
        sampler,
        {"hidden_layers": LAYERS, "learning_rate": LR},
        metrics=["val_accuracy", "params_count"],
    )
    assert _run(space) == _run(space)


@pytest.mark.parametrize(
    ("sampler", "params", "study", "message"),
    [
        ("cmaes", {"activation": ACT}, {}, "cmaes needs at least one float or int parameter"),
        (
            "cmaes",
            {"learning_rate": LR},
            {"metrics": ["val_accuracy", "params_count"]},
            "cmaes handles a single objective",
        ),
        ("nsgaii", {"learning_rate": LR}, {}, "nsgaii needs several study.metrics"),
        ("annealing", {"learning_rate": LR}, {}, "study.sampler: must be one of tpe, random"),
    ],
)
def test_unsupported_space_is_one_line(sampler, params, study, message) -> None:
    with pytest.raises(UserError) as info:
        _space(sampler, params, **study)
    assert len(info.value.problems) == 1 and message in info.value.problems[0]


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed")
def test_gp_without_torch_says_how_to_get_it() -> None:
    with pytest.raises(UserError) as info:
        _space("gp", {"learning_rate": LR})
    assert "study.sampler: gp needs torch: pip install torch" in info.value.problems[0]
