"""The ``sweeps`` command line: train, params, run, worker, status, doctor, report, export,
trials, ui, dashboard.

Every command turns bad input into one line on stderr and exit code 2; heavy imports
(TensorFlow, Optuna, MLflow) happen inside the commands so ``--help`` is instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from sweeps.errors import EXIT_USAGE, UserError

app = typer.Typer(
    name="sweeps",
    help="Hyperparameter sweeps for small Keras MLPs: Optuna studies, every trial in MLflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)

ParamsOpt = Annotated[
    Path | None,
    typer.Option("--params", "-p", help="YAML or JSON file with the parameter dict."),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override one parameter: key=value (repeatable)."),
]
TimeoutOpt = Annotated[
    str | None,
    typer.Option(
        "--timeout",
        help="Time budget (90s, 15m, 1h30m): no new trial starts after it; running ones "
        "finish and the study resumes (default: study.timeout, else none).",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only the final summary.")]
StudyArg = Annotated[str, typer.Argument(help="Study name.")]
StudyOpt = Annotated[
    str | None, typer.Option("--study", help="Study name (default: from the file).")
]


def _fail(problems: list[str]) -> None:
    for line in problems:
        err_console.print(f"error: {line}", markup=False, soft_wrap=True)
    sys.exit(EXIT_USAGE)


def load_params(path: Path | None, overrides: list[str] | None) -> Any:
    """Params file + ``--set`` overrides -> validated :class:`trainer.TrainConfig`."""
    from sweeps.files import parse_assignments, read_mapping
    from trainer.config import TrainConfig

    params: dict[str, Any] = read_mapping(path, "params file") if path is not None else {}
    params.update(parse_assignments(overrides or []))
    return TrainConfig.from_dict(params)


StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Optuna storage URL (default: journal file in ./mlruns).",
        envvar="SWEEPS_STORAGE",
    ),
]
TrackingOpt = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking URI (default: ./mlruns/mlflow.db).",
        envvar="SWEEPS_TRACKING_URI",
    ),
]
RootOpt = Annotated[
    Path | None,
    typer.Option("--root", help="Local store directory (default: ./mlruns).", envvar="SWEEPS_ROOT"),
]


def _store(storage: str | None, tracking_uri: str | None, root: Path | None) -> Any:
    from sweeps.store import resolve_store

    return resolve_store(storage, tracking_uri, root)


def _existing(
    study: str, storage: str | None, tracking_uri: str | None, root: Path | None
) -> tuple[Any, Any]:
    """``(store, study)`` for a study that must exist already (dead trials reaped)."""
    from sweeps.run.liveness import load_checked

    store = _store(storage, tracking_uri, root)
    return store, load_checked(study, store)


def _check_engine(engine: str) -> None:
    from sweeps.space import ENGINES

    if engine not in ENGINES:
        raise UserError(f"--engine: must be one of {', '.join(ENGINES)}, got {engine!r}")


@app.command()
def train(
    params: ParamsOpt = None,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
    track: Annotated[
        bool, typer.Option(help="Log the run to MLflow (experiment 'sweeps-train').")
    ] = True,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
) -> None:
    """Train one MLP from a parameter file and report its outcome (exit 1 unless ok)."""
    from sweeps.run.train_one import run_train

    config = load_params(params, set_)
    store = _store(None, tracking_uri, root) if track else None
    result = run_train(config, console=console, quiet=quiet, store=store)
    if result.outcome.label != "ok":
        raise typer.Exit(1)


@app.command()
def params() -> None:
    """Every training parameter: its default and its rule (what a params file, --set or a
    search space may set)."""
    from sweeps.cli.views import render_params

    console.print(render_params())


@app.command()
def run(
    space: Annotated[Path, typer.Argument(help="Search space YAML (search_spaces/*.yaml).")],
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials",
            "-n",
            min=1,
            help="Run this many more trials (default: top up to study.trials).",
        ),
    ] = None,
    study: StudyOpt = None,
    engine: Annotated[
        str, typer.Option(help="auto, single or population (many trials in one graph).")
    ] = "auto",
    cohort_size: Annotated[
        int | None,
        typer.Option(
            min=1, help="Slots: trials live at once in the population engine (default: automatic)."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Local worker processes sharing the study.")
    ] = 1,
    timeout: TimeoutOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run (or resume) an Optuna study over a search space; every trial goes to MLflow."""
    from sweeps.space import load_space

    _check_engine(engine)
    budget = _timeout(timeout)
    parsed = load_space(space, name=study)
    _check_data(parsed)
    store = _store(storage, tracking_uri, root)
    if workers > 1:
        from sweeps.run.workers import run_local_workers

        code = run_local_workers(
            space,
            parsed,
            store,
            workers=workers,
            trials=trials,
            engine=engine,
            console=console,
            quiet=quiet,
            timeout=budget,
        )
        _print_status(parsed.settings.name, store)
        raise typer.Exit(code)
    summary = _sweep(
        parsed,
        store,
        trials=trials,
        engine=engine,
        cohort_size=cohort_size,
        quiet=quiet,
        timeout=budget,
    )
    _print_status(parsed.settings.name, store)
    _say_timed_out(summary, parsed)
    if summary.interrupted:
        err_console.print(
            f"interrupted: the current trial was ended; resume with the same command "
            f"(study '{parsed.settings.name}')"
        )
        raise typer.Exit(130)


def _timeout(text: str | None) -> float | None:
    from sweeps.budget import parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text, "--timeout")
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _say_timed_out(summary: Any, parsed: Any) -> None:
    if summary.timed_out:
        from sweeps.budget import format_duration

        console.print(
            f"time budget reached after {format_duration(summary.seconds)}: no new trial "
            f"started; resume with the same command (study '{parsed.settings.name}')",
            markup=False,
        )


def _check_data(parsed: Any) -> None:
    """Missing data, or a batch larger than the data: one line before any trial exists."""
    from sweeps.run.datacheck import check_space_data

    check_space_data(parsed)


def _sweep(parsed: Any, store: Any, **kwargs: Any) -> Any:
    from sweeps.cli.live import LiveView
    from sweeps.run.sweep import run_sweep

    quiet = kwargs.pop("quiet")
    view = LiveView(console, quiet=quiet)
    console.print(f"study '{parsed.settings.name}' in {store.describe()}")
    return run_sweep(parsed, store, view=view, **kwargs)


def _print_status(name: str, store: Any) -> Any:
    from sweeps.cli.views import render_status
    from sweeps.run.liveness import load_checked

    study = load_checked(name, store)
    console.print(render_status(study))
    return study


@app.command()
def status(
    study: Annotated[str | None, typer.Argument(help="Study name (default: list studies).")] = None,
    stability: Annotated[
        bool,
        typer.Option(
            "--stability",
            help="Largest learning rate that did not diverge per activation x loss, and "
            "which parameters predict divergence.",
        ),
    ] = False,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
) -> None:
    """Trials by state and outcome, and the best trial; without a name, list the studies."""
    from sweeps.cli.views import render_studies

    store = _store(storage, tracking_uri, root)
    if study is None:
        console.print(render_studies(store))
        return
    loaded = _print_status(study, store)
    if stability:
        from sweeps.cli.views import show_stability

        show_stability(loaded, store, console=console)


@app.command()
def worker(
    space: Annotated[Path, typer.Argument(help="Search space YAML shared by all workers.")],
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials",
            "-n",
            min=1,
            help="Stop after this many trials (default: until the study reaches study.trials).",
        ),
    ] = None,
    study: StudyOpt = None,
    engine: Annotated[str, typer.Option(help="auto, single or population.")] = "single",
    timeout: TimeoutOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
    quiet: QuietOpt = True,
) -> None:
    """One worker process of a shared study (run any number, on any number of machines)."""
    from sweeps.space import load_space

    _check_engine(engine)
    budget = _timeout(timeout)
    from sweeps.run.workers import worker_space

    parsed = worker_space(load_space(space, name=study))
    _check_data(parsed)
    summary = _sweep(
        parsed,
        _store(storage, tracking_uri, root),
        trials=trials,
        engine=engine,
        cohort_size=None,
        quiet=quiet,
        timeout=budget,
    )
    _say_timed_out(summary, parsed)
    if summary.interrupted:
        raise typer.Exit(130)


@app.command()
def doctor(
    params: Annotated[
        Path, typer.Option("--params", "-p", help="YAML or JSON file with the parameter dict.")
    ],
    set_: SetOpt = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Epochs per probe run (default: from params, <= 3).")
    ] = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Train a config briefly, label what goes wrong, and rank single changes that fix it."""
    from sweeps.analysis.doctor import run_doctor
    from sweeps.cli.views import DoctorConsoleView

    config = load_params(params, set_)
    store = _store(storage, tracking_uri, root)
    run_doctor(config, store, view=DoctorConsoleView(console, quiet=quiet), epochs=epochs)


@app.command()
def report(
    study: StudyArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
) -> None:
    """One self-contained HTML page of plots for a study (also logged to its parent run)."""
    from sweeps.analysis.report import write_report

    store, s = _existing(study, storage, tracking_uri, root)
    path = write_report(s, store, out)
    console.print(f"report for study '{study}' written to {path}")


@app.command()
def export(
    study: StudyArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file.")] = Path("best.yaml"),
    fmt: Annotated[str | None, typer.Option("--format", help="yaml or json.")] = None,
    pick: Annotated[
        str | None,
        typer.Option(
            "--pick",
            help="Which trial: a trial number, best:<objective>, or knee (the balanced point "
            "of a Pareto front). Default: the best (on the first objective).",
        ),
    ] = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
) -> None:
    """Write the best (or picked) trial's full parameter dict; `sweeps train --params`
    retrains it."""
    from sweeps.analysis.export import export_best
    from sweeps.store import study_objectives

    if fmt is not None and fmt not in ("yaml", "json"):
        raise UserError(f"--format: must be yaml or json, got {fmt!r}")
    _, s = _existing(study, storage, tracking_uri, root)
    path, best = export_best(s, out, fmt, pick)
    values = ", ".join(
        f"{n}={v:.6g}" for n, v in zip(study_objectives(s), best.values, strict=True)
    )
    what = "best trial" if pick is None else f"trial picked by {pick!r},"
    console.print(f"{what} #{best.number} ({values}) of study '{study}' written to {path}")


@app.command()
def trials(
    study: StudyArg,
    out: Annotated[Path, typer.Option("--out", "-o", help=".csv or .parquet file.")] = Path(
        "trials.csv"
    ),
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
) -> None:
    """Export every trial (params, state, outcome, MLflow run id) as CSV or Parquet."""
    from sweeps.analysis.export import write_trials

    _, s = _existing(study, storage, tracking_uri, root)
    path = write_trials(s, out)
    console.print(f"{len(s.trials)} trial(s) of study '{study}' written to {path}")


@app.command()
def ui(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 5000,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 127.0.0.1 keeps the UI private.")
    ] = "127.0.0.1",
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
    study: Annotated[
        str | None, typer.Argument(help="Study whose runs to land on (default: the root).")
    ] = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the URL in a browser once the UI is up.")
    ] = False,
) -> None:
    """Start the MLflow UI on this project's store and print its URL: with STUDY, the URL
    of the study's runs (its parent run and trial runs)."""
    from sweeps.cli.ui import open_when_up, serve_ui, ui_url
    from sweeps.store import find_experiment_id

    store = _store(None, tracking_uri, root)
    experiment = find_experiment_id(store, study) if study is not None else None
    url = ui_url(host, port, experiment)
    if open_browser:
        open_when_up(url, f"{ui_url(host, port)}/health")
    raise typer.Exit(serve_ui(store, host=host, port=port, console=console, url=url, study=study))


@app.command()
def dashboard(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8080,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 127.0.0.1 keeps it private.")
    ] = "127.0.0.1",
    storage: StorageOpt = None,
    root: RootOpt = None,
) -> None:
    """Start optuna-dashboard on this project's Optuna storage (extra: sweeps[dashboard])."""
    from sweeps.cli.dashboard import serve_dashboard

    store = _store(storage, None, root)
    raise typer.Exit(serve_dashboard(store, host=host, port=port, console=console))


def configure_logging() -> None:
    """Keep library chatter (MLflow INFO lines, Optuna's per-trial INFO lines and
    experimental warnings) off the terminal: done once, here, for every command."""
    import logging
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*is experimental.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module="optuna")
    # We drive heartbeats ourselves around ask/tell (sweeps.run.liveness), not optimize().
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: user errors become one line and exit code 2."""
    from trainer.config import ConfigError
    from trainer.data import DataError

    configure_logging()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # not standalone: usage errors come back here to be printed as one line;
        # typer.Exit (and Ctrl-C, as 130) come back as the return value
        code = app(args=args, standalone_mode=False)
    except typer.TyperException as exc:  # click's exceptions, as vendored by typer
        if type(exc).__name__ == "NoArgsIsHelpError":
            show = getattr(exc, "show", None)
            if show is not None:
                show()
            sys.exit(EXIT_USAGE)
        if getattr(exc, "exit_code", 1) != EXIT_USAGE:
            err_console.print(f"error: {' '.join(exc.format_message().split())}", markup=False)
            sys.exit(getattr(exc, "exit_code", 1))
        _fail([usage_line(exc, args)])
    except typer.Abort:
        err_console.print("interrupted")
        sys.exit(130)
    except (UserError, ConfigError) as exc:
        _fail(exc.problems)
    except DataError as exc:
        _fail([str(exc)])
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def usage_line(exc: Any, args: list[str]) -> str:
    """A usage error as one line: the problem, the value typed, where to look."""
    msg = " ".join(exc.format_message().split()).rstrip(".")
    param = getattr(exc, "param", None)
    if isinstance(exc, typer.BadParameter) and param is not None:
        value = _typed_value(args, list(getattr(param, "opts", [])))
        if value is not None and f" {value} " not in f" {msg} " and repr(value) not in msg:
            msg += f", got {value!r}"
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "sweeps"
    return f"{msg} (see '{where} --help')"


def _typed_value(args: list[str], opts: list[str]) -> str | None:
    for i, arg in enumerate(args):
        for opt in opts:
            if arg == opt and i + 1 < len(args):
                return args[i + 1]
            if opt.startswith("--") and arg.startswith(opt + "="):
                return arg.split("=", 1)[1]
    return None
