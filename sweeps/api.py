"""The Python API: what the ``sweeps`` commands do, for scripts and notebooks.

The commands are built on these functions (one path, not two)::

    import sweeps

    result = sweeps.run("search_spaces/default.yaml", trials=20)   # or a dict
    result.best.params, result.best.value, result.best.run_id
    result.trials                       # the DataFrame of ``sweeps trials``
    result.export("best.yaml")          # ``sweeps export``; register=... for the registry
    sweeps.load("default").report("report.html")

Errors are the commands' own: a :class:`~sweeps.errors.UserError` (or the trainer's
``ConfigError``) listing every problem, one line each. Progress shows as a live bar on a
terminal and in a notebook (with ``ipywidgets``), as one line per trial elsewhere.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeps.errors import UserError
from sweeps.results import Exported, StudyResult, TrialSummary

if TYPE_CHECKING:
    import optuna
    from rich.console import Console

    from sweeps.analysis.refine import Refinement
    from sweeps.space import SearchSpace
    from sweeps.store import Store
    from trainer.config import TrainConfig
    from trainer.results import TrainResult

__all__ = [
    "Exported",
    "StudyResult",
    "TrialSummary",
    "export",
    "load",
    "refine",
    "report",
    "run",
    "train",
]

SpaceLike = str | Path | Mapping[str, Any]
"""A search-space file, or the mapping such a file holds."""


def configure_logging() -> None:
    """Keep library chatter (MLflow INFO lines, Optuna's per-trial INFO lines and
    experimental warnings) off the terminal and the notebook: every command and every
    function here that runs or reads a study calls it."""
    import logging
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*is experimental.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module="optuna")
    # We drive heartbeats ourselves around ask/tell (sweeps.runner.liveness), not optimize().
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")


def open_store(
    storage: str | None = None,
    tracking_uri: str | None = None,
    root: str | Path | None = None,
    *,
    create: bool = True,
) -> Store:
    """The store the other functions use (default: ``./mlruns``); ``create=False`` for
    readers, which never leave an empty store behind."""
    from sweeps.store import resolve_store

    return resolve_store(storage, tracking_uri, root, create=create)


def load_space(space: SpaceLike, study: str | None = None, data: Any = None) -> SearchSpace:
    """A search space from a file or a mapping, validated; ``study`` renames the study;
    ``data`` (see :func:`run`) takes the place of its ``dataset``."""
    from sweeps.space import load_space as load_file
    from sweeps.space import parse_space

    def with_data(raw: dict[str, Any]) -> dict[str, Any]:
        if data is None:
            return raw
        params = raw.get("params")
        params = dict(params) if isinstance(params, Mapping) else {}
        label = str(params.get("label", ""))
        return {**raw, "params": {**params, "dataset": register_data(data, label)}}

    if isinstance(space, Mapping):
        raw = with_data(dict(space))
        return parse_space(raw, default_name=study or "study", force_name=study)
    return load_file(space, name=study, edit=with_data)


def register_data(data: Any, label: str = "") -> str:
    """Arrays ``(x, y)`` or a pandas DataFrame (``label`` its label column) as a dataset
    source for this process (``memory:<digest>``: the same data, the same source)."""
    from trainer.data import register_arrays

    if isinstance(data, tuple) and len(data) == 2:
        return register_arrays(data[0], data[1])
    if hasattr(data, "columns"):
        return register_arrays(data, label=label)
    raise UserError(
        f"data: must be a pandas DataFrame or a pair (x, y) of arrays, got {type(data).__name__}"
    )


def prepare(
    space: SpaceLike,
    *,
    study: str | None = None,
    engine: str = "auto",
    timeout: str | float | None = None,
    shared: bool = False,
    data: Any = None,
) -> tuple[SearchSpace, float | None]:
    """``(space, time budget in seconds)`` once the options, the space and its data are
    checked, before any store is touched; ``shared``: as a worker of a shared study."""
    from sweeps.runner.datacheck import check_space_data
    from sweeps.space import ENGINES

    if engine not in ENGINES:
        raise UserError(f"--engine: must be one of {', '.join(ENGINES)}, got {engine!r}")
    budget = _seconds(timeout)
    parsed = load_space(space, study, data)
    if shared:
        from sweeps.runner.workers import worker_space

        parsed = worker_space(parsed)
    check_space_data(parsed)
    return parsed, budget


def _seconds(timeout: str | float | None) -> float | None:
    from sweeps.budget import parse_duration

    if timeout is None or isinstance(timeout, int | float):
        if timeout is not None and timeout <= 0:
            raise UserError(f"--timeout: must be > 0, got {timeout!r}")
        return None if timeout is None else float(timeout)
    try:
        return parse_duration(timeout, "--timeout")
    except ValueError as exc:
        raise UserError(str(exc)) from None


def run(
    space: SpaceLike,
    *,
    trials: int | None = None,
    study: str | None = None,
    engine: str = "auto",
    cohort_size: int | None = None,
    workers: int = 1,
    timeout: str | float | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    root: str | Path | None = None,
    progress: bool = True,
    console: Console | None = None,
    data: Any = None,
) -> StudyResult:
    """Run (or resume) a study over ``space``: ``trials`` more trials, or top it up to
    ``study.trials``; every trial goes to MLflow. ``timeout``: seconds or ``"15m"``.
    ``progress=False`` shows nothing while it runs. A Ctrl-C ends the running trials as
    interrupted and returns (:attr:`StudyResult.interrupted`). ``data``: a pandas
    DataFrame (its label column named by the space's ``label``) or arrays ``(x, y)``,
    in place of the space's ``dataset`` (this process only: not with ``workers``)."""
    from sweeps.live import LiveView
    from sweeps.runner.sweep import run_sweep

    configure_logging()
    for name, value in (("trials", trials), ("cohort_size", cohort_size)):
        if value is not None and value < 1:
            raise UserError(f"{name}: must be >= 1, got {value}")
    if workers < 1:
        raise UserError(f"workers: must be >= 1, got {workers}")
    if data is not None and workers > 1:
        raise UserError(
            "data: arrays in memory cannot reach worker processes; write them "
            "to a CSV or Parquet file and name it in the space's dataset"
        )
    parsed, budget = prepare(space, study=study, engine=engine, timeout=timeout, data=data)
    store = open_store(storage, tracking_uri, root)
    view = LiveView(console, quiet=not progress)
    name = parsed.settings.name
    if workers > 1:
        code = run_workers(space, parsed, store, workers, trials, engine, view, budget)
        study_ = _load_checked(name, store)
        return StudyResult(study_, store, interrupted=code == 130, exit_code=code)
    if progress:
        view.console.print(f"study '{name}' in {store.describe()}", markup=False)
    summary = run_sweep(
        parsed,
        store,
        trials=trials,
        engine=engine,
        cohort_size=cohort_size,
        view=view,
        timeout=budget,
    )
    interrupted = summary.interrupted
    return StudyResult(_load_checked(name, store), store, summary, interrupted, 130 * interrupted)


def run_workers(
    space: SpaceLike,
    parsed: SearchSpace,
    store: Store,
    workers: int,
    trials: int | None,
    engine: str,
    view: Any,
    budget: float | None,
) -> int:
    """``workers`` local processes on the study (a mapping is written to a file for
    them); the exit code they leave (130: interrupted)."""
    from sweeps.files import dump_yaml
    from sweeps.runner.workers import run_local_workers

    with tempfile.TemporaryDirectory(prefix="sweeps-space-") as tmp:
        path = Path(space) if not isinstance(space, Mapping) else Path(tmp, "space.yaml")
        if isinstance(space, Mapping):
            named = {**space, "study": {**space.get("study", {}), "name": parsed.settings.name}}
            path.write_text(dump_yaml(named), encoding="utf-8")
        code = run_local_workers(
            path,
            parsed,
            store,
            workers=workers,
            trials=trials,
            engine=engine,
            console=view.console,
            quiet=view.silent,
            timeout=budget,
        )
    return code


def _load_checked(name: str, store: Store) -> optuna.Study:
    from sweeps.runner.liveness import load_checked

    return load_checked(name, store)


def load(
    study: str,
    *,
    storage: str | None = None,
    tracking_uri: str | None = None,
    root: str | Path | None = None,
) -> StudyResult:
    """A study that exists, its dead trials reaped (nothing is created when it does
    not: a one-line error names the store)."""
    configure_logging()
    store = open_store(storage, tracking_uri, root, create=False)
    if not store.exists():
        raise UserError(
            f"study '{study}': not found in {store.describe()} (nothing has run there yet)"
        )
    return StudyResult(_load_checked(study, store), store)


def _result(study: str | StudyResult, stores: Mapping[str, Any]) -> StudyResult:
    return study if isinstance(study, StudyResult) else load(study, **stores)


def export(
    study: str | StudyResult,
    out: str | Path | None = None,
    *,
    pick: str | None = None,
    fmt: str | None = None,
    register: str | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    root: str | Path | None = None,
) -> Exported:
    """The best (or picked: a trial number, ``best:<objective>``, ``knee``) trial's full
    parameter dict, written to ``out`` (YAML or JSON by suffix or ``fmt``) when given;
    ``register`` registers its saved model under that name in MLflow's registry."""
    stores = {"storage": storage, "tracking_uri": tracking_uri, "root": root}
    return _result(study, stores).export(out, pick=pick, fmt=fmt, register=register)


def report(
    study: str | StudyResult,
    out: str | Path = "report.html",
    *,
    storage: str | None = None,
    tracking_uri: str | None = None,
    root: str | Path | None = None,
) -> Path:
    """Write a study's self-contained HTML report; its path."""
    stores = {"storage": storage, "tracking_uri": tracking_uri, "root": root}
    return _result(study, stores).report(out)


def refine(
    study: str | StudyResult,
    out: str | Path | None = "refined.yaml",
    *,
    space: str | Path | None = None,
    name: str | None = None,
    tolerance: float | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    root: str | Path | None = None,
) -> Refinement:
    """The next search space from a finished study's failures (``sweeps refine``):
    choices that never came close dropped, range ends where trials failed cut, every
    change commented; written to ``out`` and stored on the study's parent run.
    ``space``: the file the study ran (default: the one it recorded)."""
    from sweeps.analysis.refine import TOLERANCE
    from sweeps.analysis.refine import refine as refine_study
    from sweeps.files import read_mapping
    from sweeps.space import parse_space
    from sweeps.store import Tracker
    from sweeps.store.schema import ARTIFACT_REFINED, STUDY_SPACE, STUDY_SPACE_FILE

    stores = {"storage": storage, "tracking_uri": tracking_uri, "root": root}
    result = _result(study, stores)
    s = result.study
    path = Path(space or s.user_attrs.get(STUDY_SPACE_FILE) or "")
    if not path.is_file():
        raise UserError(
            f"study '{s.study_name}': its space file '{path}' is not found; pass the file "
            "it ran (--space FILE)"
        )
    raw = read_mapping(path, "search space")
    parsed = parse_space(raw, source=str(path), force_name=s.study_name)
    if s.user_attrs.get(STUDY_SPACE) not in (None, parsed.fingerprint()):
        raise UserError(
            f"--space: '{path}' no longer describes study '{s.study_name}' (its ranges, "
            "choices or fixed values changed since it ran); pass the file it ran"
        )
    tol = TOLERANCE if tolerance is None else tolerance
    refined = refine_study(s, raw, parsed, name=name, tolerance=tol)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(refined.text, encoding="utf-8")
    tracker = Tracker(result.store, s.study_name)
    tracker.log_text(tracker.parent_run_id, refined.text, ARTIFACT_REFINED)
    tracker.flush()
    return refined


def train(
    params: Mapping[str, Any] | str | Path | None = None,
    *,
    overrides: Sequence[str] = (),
    track: bool = True,
    quiet: bool = False,
    tracking_uri: str | None = None,
    root: str | Path | None = None,
    console: Console | None = None,
) -> TrainResult:
    """Train one parameter dict (or a params file, e.g. an export; ``overrides``:
    ``key=value`` strings on top) as ``sweeps train`` does: progress, the outcome, and
    with ``track`` an MLflow run holding its model."""
    from rich.console import Console as RichConsole

    from sweeps.runner.train_one import run_train

    configure_logging()
    config = load_params(params, overrides)
    store = open_store(None, tracking_uri, root) if track else None
    console = console or RichConsole(highlight=False, soft_wrap=True)
    return run_train(config, console=console, quiet=quiet, store=store)


def load_params(
    params: Mapping[str, Any] | str | Path | None, overrides: Sequence[str] = ()
) -> TrainConfig:
    """A parameter dict, a params file and ``key=value`` overrides -> a validated
    ``TrainConfig``. A search-space file is refused with what to do instead."""
    from sweeps.files import parse_assignments, read_mapping
    from trainer.config import TrainConfig

    if params is None:
        raw: dict[str, Any] = {}
    elif isinstance(params, Mapping):
        raw = dict(params)
    else:
        raw = read_mapping(Path(params), "params file")
        if isinstance(raw.get("params"), Mapping) and set(raw) <= {"study", "params"}:
            raise UserError(
                f"params file '{params}': is a search space (it has a 'params' section); "
                f"sweep it with 'sweeps run {params}', or train one trial's params "
                "('sweeps export STUDY' writes them)"
            )
    raw.update(parse_assignments(list(overrides)))
    return TrainConfig.from_dict(raw)
