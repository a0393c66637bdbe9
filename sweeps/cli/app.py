"""The ``sweeps`` command line: train, params, run, worker, status, doctor, report, export,
trials, refine, ui, dashboard.

This module is the one Typer app: it registers the commands (written in
:mod:`sweeps.cli.commands`) in the order ``--help`` lists them, and :func:`main` runs it.
Every command turns bad input into one line on stderr and exit code 2; heavy imports
(TensorFlow, Optuna, MLflow) happen inside the commands so ``--help`` is instant.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from sweeps.api import configure_logging
from sweeps.cli.commands import config, results, servers, study
from sweeps.cli.commands.common import err_console
from sweeps.errors import EXIT_USAGE, UserError

app = typer.Typer(
    name="sweeps",
    help="Hyperparameter sweeps for small Keras MLPs: Optuna studies, every trial in MLflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for _command in (
    config.train,
    config.params,
    study.run,
    study.status,
    study.worker,
    config.doctor,
    results.report,
    results.export,
    results.trials,
    results.refine,
    servers.ui,
    servers.dashboard,
):
    app.command()(_command)


def _fail(problems: list[str]) -> None:
    for line in problems:
        err_console.print(f"error: {line}", markup=False, soft_wrap=True)
    sys.exit(EXIT_USAGE)


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
