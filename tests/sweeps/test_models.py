"""Trained networks as MLflow models: the trials that end as the study's best (and every
``sweeps train`` run) carry one that ``mlflow.pyfunc`` loads and that predicts what the
trainer's network predicts; ``export --register`` puts it in the model registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest

import sweeps
from sweeps.errors import UserError
from sweeps.store import has_model
from sweeps.store.schema import ARTIFACT_MODEL, ATTR_RUN_ID, TAG_MODEL
from tests.sweeps.test_api import space
from trainer import TrainConfig, load_dataset, train
from trainer.losses import apply_output
from trainer.model import predict_numpy, serving_model


@pytest.mark.parametrize(
    "activation", ["linear", "sigmoid", "tanh", "relu", "elu", "gelu", "softplus", "selu"]
)
@pytest.mark.parametrize("output", ["softmax", "sigmoid", "linear"])
def test_the_served_network_is_the_trained_one(activation: str, output: str) -> None:
    """What is served (probabilities, after the output activation) is the trainer's
    network: Keras' own forward pass and a NumPy one agree on it."""
    config = TrainConfig.from_dict(
        {"dataset": "mnist-mini", "hidden_layers": [8, 6], "activation": activation}
        | {"output_activation": output, "loss": "mse", "optimizer": "adam", "epochs": 1}
    )
    data = load_dataset(config.dataset)
    result = train(config, dataset=data, keep_model=True)
    x = data.x_test[:64]
    served = serving_model(config, result.weights).predict(x, verbose=0)
    trainer_says = np.asarray(apply_output(output, result.model(x)))
    np.testing.assert_allclose(served, trainer_says, atol=1e-6)
    np.testing.assert_allclose(served, predict_numpy(config, result.weights, x), atol=1e-5)
    with pytest.raises(ValueError, match="3 Dense layers need 6 arrays, got 4"):
        serving_model(config, result.weights[:4])


def _models(result: Any) -> dict[int, bool]:
    return {
        t.number: has_model(result.store, t.user_attrs[ATTR_RUN_ID]) for t in result.study.trials
    }


@pytest.mark.parametrize("engine", ["single", "population"])
def test_trials_that_end_as_the_best_carry_their_model(tmp_path: Path, engine: str) -> None:
    result = sweeps.run(
        space(f"m-{engine}", trials=6), root=tmp_path, engine=engine, progress=False
    )
    study = result.study
    saved = _models(result)
    # the single engine ends trials in number order: a model for each new best, only
    ended = sorted(study.trials, key=lambda t: (t.datetime_complete, t.number))
    best, expected = -1.0, set()
    for t in ended:
        if t.value is not None and t.value > best:
            best = t.value
            expected.add(t.number)
    assert study.best_trial.number in {n for n, has in saved.items() if has}
    if engine == "single":
        assert {n for n, has in saved.items() if has} == expected
    run = result.store.mlflow.get_run(result.best.run_id)
    assert run.data.tags[TAG_MODEL] == f"runs:/{result.best.run_id}/{ARTIFACT_MODEL}"
    # loaded back as any MLflow user would, it predicts what the trainer's network does
    # (the best config trained again alone: the same weights, up to rounding)
    data = load_dataset("mnist-mini")
    served = mlflow.pyfunc.load_model(result.best.model_uri)
    assert tuple(served.metadata.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == (-1, 784)
    config = TrainConfig.from_dict(result.best.params)
    again = train(config, dataset=data)
    x = data.x_test[:500]
    predicted = served.predict(x)
    np.testing.assert_allclose(predicted, predict_numpy(config, again.weights, x), atol=2e-3)
    assert (predicted.argmax(1) == data.y_test[:500]).mean() == pytest.approx(
        again.test_accuracy, abs=0.05
    )
    assert np.array_equal(result.load_model().predict(x), predicted)


def test_export_registers_the_best_model(tmp_path: Path) -> None:
    result = sweeps.run(space("reg", trials=4), root=tmp_path, progress=False, engine="single")
    first = result.export(tmp_path / "best.yaml", register="mnist-mlp")
    second = sweeps.export("reg", register="mnist-mlp", root=tmp_path)
    assert (first.model_version.name, int(first.model_version.version)) == ("mnist-mlp", 1)
    assert int(second.model_version.version) == 2 and second.path is None
    registered = mlflow.pyfunc.load_model("models:/mnist-mlp/2")
    x = load_dataset("mnist-mini").x_test[:10]
    assert np.array_equal(registered.predict(x), result.load_model().predict(x))
    no_model = [n for n, has in _models(result).items() if not has]
    assert no_model, "every trial improved on the last: no trial without a model to test"
    for call in (
        lambda: result.export(pick=str(no_model[0]), register="other"),
        lambda: result.load_model(pick=str(no_model[0])),
    ):
        with pytest.raises(UserError, match=f"trial {no_model[0]} has no saved model"):
            call()


def test_train_logs_its_model_under_a_name_that_says_what_it_is(tmp_path: Path) -> None:
    params = {"dataset": "mnist-mini", "hidden_layers": [12], "activation": "relu"} | {
        "optimizer": "adam", "learning_rate": 0.01, "epochs": 1,
    }  # fmt: skip
    result = sweeps.train(params, root=tmp_path, quiet=True)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs(
        [client.get_experiment_by_name("sweeps-train").experiment_id],
        filter_string="tags.`sweeps.role` = 'train'",
    )
    assert run.info.run_name == "train 784-12-10 relu adam lr=0.01"
    served = mlflow.pyfunc.load_model(run.data.tags[TAG_MODEL])
    x = load_dataset("mnist-mini").x_test[:100]
    config = TrainConfig.from_dict(params)
    np.testing.assert_allclose(
        served.predict(x), predict_numpy(config, result.weights, x), atol=1e-5
    )


def test_a_diverged_run_gets_no_model(tmp_path: Path) -> None:
    from tests._cases import DIVERGING_NET

    result = sweeps.train(
        {**DIVERGING_NET, "dataset": "mnist-mini", "epochs": 1}, root=tmp_path, quiet=True
    )
    assert result.outcome.label == "diverged"
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs(
        [client.get_experiment_by_name("sweeps-train").experiment_id],
        filter_string="tags.`sweeps.role` = 'train'",
    )
    assert TAG_MODEL not in run.data.tags
    assert not client.list_artifacts(run.info.run_id, ARTIFACT_MODEL)


def test_a_failure_is_never_kept_nor_a_bar_for_later_trials() -> None:
    """A ``dead_units`` net that scores best is no best: it gets no model, and a later
    ``ok`` trial below it is the study's best, so it gets one."""
    from types import SimpleNamespace

    import optuna
    from optuna.trial import create_trial

    from sweeps.runner.models import ModelKeeper
    from sweeps.runner.session import TrialReport
    from sweeps.space import parse_space
    from sweeps.store.schema import ATTR_OUTCOME

    space = parse_space({"study": {"name": "keep"}, "params": {"epochs": 1}})
    study = optuna.create_study(direction="maximize")
    keeper = ModelKeeper(study, space, tracker=None)  # type: ignore[arg-type]
    keeper._save = lambda session, result: keeper.saved.append(session.trial.number)  # type: ignore[method-assign]
    for number, (value, outcome) in enumerate([(0.95, "dead_units"), (0.9, "ok")]):
        study.add_trial(create_trial(value=value, user_attrs={ATTR_OUTCOME: outcome}))
        session = SimpleNamespace(trial=SimpleNamespace(number=number))
        result = SimpleNamespace(
            config=None,
            history=[SimpleNamespace(val_accuracy=value)],
            weights=[np.ones(2)],
            divergence=None,
        )
        report = TrialReport(number, "COMPLETE", outcome, value, "")
        keeper.consider([(session, result, report)])  # type: ignore[list-item]
    assert keeper.saved == [1]
