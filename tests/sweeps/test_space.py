from __future__ import annotations

from pathlib import Path

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweeps.errors import UserError
from sweeps.space import load_space, parse_space

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["default", "nielsen_ch1", "zero_init", "depth_width"])
def test_shipped_spaces_are_valid(name: str) -> None:
    space = load_space(ROOT / "search_spaces" / f"{name}.yaml")
    assert space.settings.name == name
    assert space.distributions
    # every point of the space is a valid trainer config
    params = space.params_for({})
    assert params["dataset"] in ("mnist", "mnist-mini")


def test_default_space_sweeps_the_five_dimensions() -> None:
    space = load_space(ROOT / "search_spaces" / "default.yaml")
    assert set(space.distributions) == {
        "activation",
        "weight_init_scale",
        "learning_rate",
        "batch_size",
        "loss",
    }
    lr = space.distributions["learning_rate"]
    assert isinstance(lr, FloatDistribution) and lr.log


def test_zero_init_space_includes_zero_scale() -> None:
    space = load_space(ROOT / "search_spaces" / "zero_init.yaml")
    scale = space.distributions["weight_init_scale"]
    assert isinstance(scale, CategoricalDistribution) and 0.0 in scale.choices


def test_spec_kinds_and_fixed_values() -> None:
    space = parse_space(
        {
            "params": {
                "learning_rate": {"type": "float", "low": 1e-3, "high": 1.0, "log": True},
                "epochs": {"type": "int", "low": 1, "high": 5, "step": 2},
                "hidden_layers": {"type": "categorical", "choices": [[30], [16, 16]]},
                "activation": "relu",
            }
        }
    )
    assert isinstance(space.distributions["epochs"], IntDistribution)
    assert space.fixed == {"activation": "relu"}
    # list choices are encoded for Optuna and decoded back
    codes = space.distributions["hidden_layers"].choices  # type: ignore[attr-defined]
    assert all(isinstance(c, str) for c in codes)
    params = space.params_for({"hidden_layers": codes[1], "learning_rate": 0.1, "epochs": 3})
    assert params["hidden_layers"] == [16, 16]
    assert space.config_for({"hidden_layers": codes[1]}).hidden_layers == (16, 16)


def test_all_problems_reported_at_once_with_key_paths() -> None:
    raw = {
        "study": {"direction": "up", "pruner": "sometimes", "trails": 3},
        "params": {
            "learning_rate": {"type": "float", "low": 0.0, "high": 1.0, "log": True},
            "batch_size": {"type": "int", "low": 64, "high": 8},
            "activation": {"type": "categorical", "choices": []},
            "loss": {"type": "categorical", "choices": ["mse", "hinge"]},
            "optimiser": "sgd",
            "epochs": 0,
        },
    }
    with pytest.raises(UserError) as info:
        parse_space(raw, source="bad.yaml")
    problems = info.value.problems
    text = "\n".join(problems)
    assert len(problems) == 9, text
    for expected in (
        "study.direction: must be maximize or minimize, got 'up'",
        "study.pruner: must be one of",
        "study.trails: unknown key; did you mean 'trials'?",
        "params.learning_rate.low: must be > 0 when log is true, got 0.0",
        "params.batch_size: low must be <= high, got low=64 high=8",
        "params.activation.choices: must be a non-empty list, got []",
        "params.loss.choices[1]: must be one of mse, quadratic, crossentropy, got 'hinge'",
        "params.optimiser: unknown key; did you mean 'optimizer'?",
        "params.epochs: must be >= 1, got 0",
    ):
        assert expected in text, (expected, text)
    assert all(p.startswith("search space 'bad.yaml': ") for p in problems)
    assert all("\n" not in p for p in problems)


def test_fixed_value_checked_by_trainer_rules() -> None:
    with pytest.raises(UserError) as info:
        parse_space({"params": {"epochs": 0, "learning_rate": -0.1}})
    text = "\n".join(info.value.problems)
    assert "params.epochs: must be >= 1, got 0" in text
    assert "params.learning_rate: must be > 0, got -0.1" in text


def test_malformed_yaml_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("params: {learning_rate: [1, 2\n")
    with pytest.raises(UserError) as info:
        load_space(bad)
    assert "malformed YAML" in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="file not found"):
        load_space(tmp_path / "nope.yaml")


def test_fingerprint_changes_with_space() -> None:
    a = parse_space({"params": {"learning_rate": {"type": "float", "low": 0.1, "high": 1.0}}})
    b = parse_space({"params": {"learning_rate": {"type": "float", "low": 0.1, "high": 2.0}}})
    assert a.fingerprint() != b.fingerprint()
    assert (
        a.fingerprint()
        == parse_space(
            {"params": {"learning_rate": {"type": "float", "low": 0.1, "high": 1.0}}}
        ).fingerprint()
    )
