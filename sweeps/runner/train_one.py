"""``sweeps train``: one run from a parameter file, with per-epoch progress and an outcome."""

from __future__ import annotations

import math

from rich.console import Console
from rich.markup import escape

from sweeps.files import dump_yaml
from sweeps.runner.diagnosis import diagnosis_artifacts, diagnosis_tags, warning_lines
from sweeps.runner.models import servable, served
from sweeps.store import Store, model_uri
from sweeps.store.schema import ARTIFACT_PARAMS, ATTR_TEST_ACCURACY, ROLE_TRAIN, TAG_ROLE
from trainer.config import TrainConfig
from trainer.data import Dataset
from trainer.preflight import PreflightWarning
from trainer.results import EpochRecord, TrainResult

TRAIN_EXPERIMENT = "sweeps-train"


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if math.isfinite(value) else str(value)


def epoch_line(record: EpochRecord) -> str:
    return (
        f"epoch {record.epoch:>3}  loss {_fmt(record.loss)}  acc {_fmt(record.accuracy)}  "
        f"val_loss {_fmt(record.val_loss)}  val_acc {_fmt(record.val_accuracy)}  "
        f"({record.seconds:.2f}s)"
    )


def run_name(config: TrainConfig, dataset: Dataset) -> str:
    """What the MLflow UI lists a ``sweeps train`` run as: the network and how it trains."""
    return (
        f"train {dataset.num_features}-{config.architecture}-{dataset.num_classes} "
        f"{config.activation} {config.optimizer} lr={config.learning_rate:g}"
    )


def run_train(
    config: TrainConfig,
    *,
    console: Console,
    quiet: bool = False,
    store: Store | None = None,
) -> TrainResult:
    """Train ``config``, print progress and the outcome, log to MLflow when ``store``."""
    from trainer.inputs import dataset_for
    from trainer.shape import check_batch_fits
    from trainer.training import train

    dataset = dataset_for(config)
    check_batch_fits(config, dataset)  # before an MLflow run exists
    tracker = run_id = None
    if store is not None:
        from sweeps.store import Tracker

        tracker = Tracker(store, TRAIN_EXPERIMENT)
        run_id = tracker.start_trial(
            0, config.to_dict(), tags={TAG_ROLE: ROLE_TRAIN}, run_name=run_name(config, dataset)
        )
        tracker.log_datasets(run_id, dataset, config.validation_split)
    if not quiet:
        console.print(
            f"training {dataset.num_features}-{config.architecture}-{dataset.num_classes} "
            f"{config.activation}/{config.output_activation} {config.loss} "
            f"{config.optimizer} lr={config.learning_rate:g} batch={config.batch_size} "
            f"on {dataset.name}"
        )

    def on_epoch(record: EpochRecord) -> bool:
        if not quiet:
            console.print(epoch_line(record))
        if tracker is not None and run_id is not None:
            tracker.log_epoch(run_id, record.epoch, record.metrics())
        return False

    def on_preflight(warnings: tuple[PreflightWarning, ...]) -> None:
        for line in warning_lines(warnings):  # printed even with --quiet: never silent
            console.print(f"[yellow]{escape(line)}[/yellow]", soft_wrap=True)

    try:
        result = train(config, dataset=dataset, on_epoch_end=on_epoch, on_preflight=on_preflight)
    except BaseException as exc:
        if tracker is not None and run_id is not None:
            tracker.finish_trial(
                run_id,
                state="FAIL",
                outcome="failed",
                reason=str(exc),
                status="KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED",
            )
        raise
    if result.divergence is not None and not quiet:
        console.print(epoch_line(result.history[-1]))
    print_outcome(console, result)
    if tracker is not None and run_id is not None:
        tracker.finish_trial(
            run_id,
            state="COMPLETE" if result.outcome.label != "diverged" else "PRUNED",
            outcome=result.outcome.label,
            reason=result.outcome.reason,
            metrics={ATTR_TEST_ACCURACY: result.test_accuracy},
            extra_tags=diagnosis_tags(result),
            artifacts={
                ARTIFACT_PARAMS: dump_yaml(config.to_dict()),
                **diagnosis_artifacts(result),
            },
        )
        where = f"mlflow run {run_id} (experiment '{TRAIN_EXPERIMENT}')"
        if servable(result):  # a diverged network is nothing to load
            tracker.log_model(run_id, *served(config, result))
            tracker.flush(runs=[run_id])
            where += f", model {model_uri(run_id)}"
        console.print(where, markup=False)
    return result


def print_outcome(console: Console, result: TrainResult) -> None:
    """The run's outcome, its other labels, and its accuracies (printed even with --quiet)."""
    final = result.final
    style = {"ok": "green", "diverged": "red"}.get(result.outcome.label, "yellow")
    console.print(
        f"outcome: [{style}]{result.outcome.label}[/{style}] — {escape(result.outcome.reason)}"
    )
    if len(result.outcome.labels) > 1:
        console.print(f"labels: {', '.join(result.outcome.labels)}")
    console.print(
        f"test accuracy {_fmt(result.test_accuracy)} (chance {_fmt(result.chance_accuracy)}), "
        f"val accuracy {_fmt(final.val_accuracy if final else None)}, "
        f"{result.epochs_run} epoch(s), {result.wall_time:.1f}s"
    )
