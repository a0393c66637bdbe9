"""Depth x width spaces: conditional (define-by-run) parameters, validation, population
sizing, and a sweep whose exported point retrains to the same accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from sweeps.runner.cohort import can_use_population, default_cohort_size, subcohort_count
from sweeps.space import parse_space
from sweeps.store import load_existing, resolve_store


def _layers(**spec: Any) -> dict[str, Any]:
    return {"depth": {"low": 1, "high": 3}, "width": {"low": 16, "high": 256, "log": True}} | spec


def _space(layers: dict[str, Any], **study: Any):
    return parse_space(
        {
            "study": {"name": "dw", "sampler": "random", "seed": 0} | study,
            "params": {
                "hidden_layers": layers,
                "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
            },
        }
    )


def _ask_many(space, n: int = 40) -> list[optuna.trial.FrozenTrial]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(n):
        trial = study.ask(fixed_distributions=space.distributions)
        params = space.suggest(trial)
        study.tell(trial, float(sum(params["hidden_layers"])))
    return study.trials


def test_per_layer_widths_exist_only_for_existing_layers() -> None:
    space = _space(_layers())
    assert "hidden_layers" not in space.distributions  # sampled define-by-run instead
    trials = _ask_many(space)
    depths = set()
    for t in trials:
        depth = t.params["n_layers"]
        depths.add(depth)
        widths = {k for k in t.params if k.startswith("width")}
        assert widths == {f"width_{i}" for i in range(depth)}, t.params
        arch = space.params_for(t.params)["hidden_layers"]
        assert arch == [t.params[f"width_{i}"] for i in range(depth)]
        assert all(16 <= w <= 256 for w in arch)
        # the sampler saw only the existing layers' distributions
        assert set(t.distributions) == {"learning_rate", "n_layers", *widths}
    assert depths == {1, 2, 3}


def test_shared_width_is_one_parameter() -> None:
    space = _space(_layers(per_layer=False))
    for t in _ask_many(space, 15):
        assert set(t.params) == {"learning_rate", "n_layers", "width"}
        assert (
            space.params_for(t.params)["hidden_layers"]
            == [t.params["width"]] * t.params["n_layers"]
        )


def test_width_choices_and_fingerprint() -> None:
    space = _space({"depth": {"low": 2, "high": 2}, "width": {"choices": [32, 64]}})
    for t in _ask_many(space, 10):
        assert space.params_for(t.params)["hidden_layers"] in (
            [32, 32],
            [32, 64],
            [64, 32],
            [64, 64],
        )
    assert _space(_layers()).fingerprint() != _space(_layers(per_layer=False)).fingerprint()


def test_population_sizing_counts_architectures() -> None:
    wide = _space(_layers())
    assert subcohort_count(wide) == 241 + 241**2 + 241**3 and not can_use_population(wide)
    few = _space({"depth": {"low": 1, "high": 2}, "width": {"choices": [32]}})
    assert subcohort_count(few) == 2 and can_use_population(few)
    shared = _space(_layers(per_layer=False, width={"choices": [16, 32]}))
    assert subcohort_count(shared) == 2 * 3
    # memory sizing sees the deepest, widest architecture (3 x 256), not the default [30]
    small = _space({"depth": {"low": 1, "high": 1}, "width": {"choices": [16]}})
    assert default_cohort_size(wide, 2**31) < default_cohort_size(small, 2**31)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (_layers(depth={"low": 0, "high": 2}), "depth.low: must be an integer from 1 to 16, got 0"),
        (_layers(depth={"low": 3, "high": 1}), "depth: low must be <= high, got low=3 high=1"),
        (_layers(width={"low": 0, "high": 8}), "width: must lie from 1 to 100000 units"),
        (_layers(width={"choices": [8, 8]}), "width.choices: must be distinct integers"),
        (_layers(per_layer="yes"), "per_layer: must be true or false, got 'yes'"),
        (_layers(width={"low": 8, "high": 16, "lo": 1}), "width.lo: unknown key"),
    ],
)
def test_bad_layer_specs_name_field_and_value(layers: dict[str, Any], message: str) -> None:
    from sweeps.errors import UserError

    with pytest.raises(UserError) as info:
        _space(layers)
    assert any(message in p for p in info.value.problems), info.value.problems


def test_depth_width_sweep_exports_a_plain_architecture(cli, write_space, tmp_path: Path) -> None:
    space = write_space(
        "dw",
        study={"trials": 4},
        params={
            "hidden_layers": {"depth": {"low": 1, "high": 2}, "width": {"low": 4, "high": 12}},
            "learning_rate": 0.01,
            "epochs": 1,
        },
    )
    root = tmp_path / "mlruns"
    res = cli("run", space, "--root", root, "--quiet")
    assert res.code == 0, res
    study = load_existing("dw", resolve_store(root=root))
    best = study.best_trial
    out = tmp_path / "best.yaml"
    assert cli("export", "dw", "--out", out, "--root", root).code == 0
    params = yaml.safe_load(out.read_text())
    depth = best.params["n_layers"]
    assert params["hidden_layers"] == [best.params[f"width_{i}"] for i in range(depth)]
    assert not {"n_layers", "width_0"} & set(params)
    res = cli("train", "--params", out, "--no-track")
    assert f"val accuracy {study.best_value:.4f}" in res.out, res


def test_plain_space_fingerprint_is_unchanged_so_old_studies_resume() -> None:
    import json

    plain = parse_space({"study": {"name": "p"}, "params": {"learning_rate": 0.1}})
    assert set(json.loads(plain.fingerprint())) == {"distributions", "fixed", "metric", "direction"}
    assert "layers" in json.loads(_space(_layers()).fingerprint())
