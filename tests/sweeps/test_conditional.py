"""``when:`` in a float or int spec: bounds that depend on categorical parameters."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution

from sweeps.errors import UserError
from sweeps.space import parse_space

WHEN = [
    {"if": {"activation": "sigmoid", "loss": ["mse", "quadratic"]}, "high": 2.0},
    {"if": {"activation": "relu"}, "low": 0.01, "high": 0.5},
]


def space(when: Any = None, **lr: Any) -> Any:
    spec: dict[str, Any] = {"type": "float", "low": 0.001, "high": 30.0, "log": True, **lr}
    if when is not None:
        spec["when"] = when
    return parse_space(
        {
            "study": {"name": "cond", "sampler": "random", "seed": 0},
            "params": {
                "learning_rate": spec,  # before the parameters it depends on: order is free
                "activation": {"type": "categorical", "choices": ["sigmoid", "tanh", "relu"]},
                "loss": {"type": "categorical", "choices": ["mse", "quadratic", "crossentropy"]},
            },
        }
    )


def expected_range(params: dict[str, Any]) -> tuple[float, float]:
    if params["activation"] == "sigmoid" and params["loss"] in ("mse", "quadratic"):
        return 0.001, 2.0
    if params["activation"] == "relu":
        return 0.01, 0.5
    return 0.001, 30.0


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_every_trial_draws_from_its_rule_and_the_rest_from_the_whole_range(sampler: str) -> None:
    s = space(WHEN)
    assert "learning_rate" not in s.distributions  # sampled after the rest, by suggest
    assert s.swept == ["activation", "loss", "learning_rate"]
    samplers = {
        "random": optuna.samplers.RandomSampler(seed=0),
        "tpe": optuna.samplers.TPESampler(seed=0, n_startup_trials=10),
    }
    study = optuna.create_study(sampler=samplers[sampler])
    seen: dict[tuple[float, float], list[float]] = {}
    for _ in range(120):
        trial = study.ask(fixed_distributions=s.distributions)
        params = s.suggest(trial)
        low, high = expected_range(params)
        assert low <= params["learning_rate"] <= high, params
        seen.setdefault((low, high), []).append(params["learning_rate"])
        study.tell(trial, -abs(params["learning_rate"] - 0.3))  # TPE sees moving bounds
    assert set(seen) == {(0.001, 2.0), (0.01, 0.5), (0.001, 30.0)}
    if sampler == "random":  # the whole range is drawn, not just its rule's corner
        assert max(seen[(0.001, 30.0)]) > 2.0


def test_fingerprint_and_extremes_see_the_rules() -> None:
    plain, ruled = space(), space(WHEN)
    assert plain.fingerprint() != ruled.fingerprint()
    assert ruled.fingerprint() == space(WHEN).fingerprint()
    assert ruled.extremes("learning_rate") == [0.001, 30.0]
    assert ruled.conditional["learning_rate"].depends_on == ("activation", "loss")
    chosen = ruled.conditional["learning_rate"].distribution_for(
        {"activation": "relu", "loss": "mse"}
    )
    assert chosen == FloatDistribution(0.01, 0.5, log=True)


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ([], "params.learning_rate.when: must be a non-empty list of rules, got []"),
        ([{"high": 2.0}], "params.learning_rate.when[0].if: must map swept categorical"),
        (
            [{"if": {"optimizer": "sgd"}, "high": 2.0}],
            "params.learning_rate.when[0].if.optimizer: must be a swept categorical parameter "
            "(activation, loss), got 'optimizer'",
        ),
        (
            [{"if": {"activation": "elu"}, "high": 2.0}],
            "params.learning_rate.when[0].if.activation: must be among its choices (sigmoid, "
            "tanh, relu), got 'elu'",
        ),
        ([{"if": {"activation": "relu"}}], "when[0]: must set low or high (or both)"),
        (
            [{"if": {"activation": "relu"}, "high": 50.0}],
            "when[0]: must lie within the parameter's own range [0.001, 30], got [0.001, 50]",
        ),
        (
            [{"if": {"activation": "relu"}, "low": 2.0, "high": 1.0}],
            "when[0]: low must be <= high, got low=2.0 high=1.0",
        ),
        (
            [{"if": {"activation": "relu"}, "high": 1.0, "hihg": 2.0}],
            "when[0].hihg: unknown key; did you mean 'high'?",
        ),
    ],
)
def test_a_bad_rule_is_one_line_naming_its_path(when: Any, problem: str) -> None:
    with pytest.raises(UserError) as info:
        space(when)
    assert any(problem in p for p in info.value.problems), info.value.problems


def test_a_shape_field_takes_no_rules() -> None:
    with pytest.raises(UserError) as info:
        parse_space(
            {
                "study": {"name": "cond"},
                "params": {
                    "activation": {"type": "categorical", "choices": ["sigmoid", "relu"]},
                    "batch_size": {
                        "type": "int",
                        "low": 16,
                        "high": 128,
                        "when": [{"if": {"activation": "relu"}, "high": 32}],
                    },
                },
            }
        )
    assert "params.batch_size.when: bounds that depend on other parameters" in str(info.value)
