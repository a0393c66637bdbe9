"""The live view of a running sweep: a progress bar with the best so far and the last trials.

On a terminal, and in a Jupyter notebook with ``ipywidgets``, it is a ``rich.live``
panel: a progress bar (trials done / target, elapsed time, counts per outcome, best trial)
over a table of the last trials with their state, outcome, value, the parameters that vary
between trials, and the reason. Elsewhere (CI, logs, pipes) it prints one plain line per
finished trial instead, which is what log files want; ``--quiet`` prints nothing while the
sweep runs (the command prints its final summary). Outcome labels are shown as they come,
known or not. The commands and the Python API (:mod:`sweeps.api`) share it.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from sweeps.analysis.anytime import clock

# Styles of the labels we know; any other label (a new failure kind) is shown in cyan.
OUTCOME_STYLES = {
    "ok": "green",
    "pruned": "yellow",
    "diverged": "red",
    "exploded": "red",
    "stuck": "magenta",
    "slow": "yellow",
    "symmetric": "magenta",
    "dead_units": "magenta",
    "saturated": "magenta",
    "failed": "bold red",
    "interrupted": "red",
    "killed": "red",
}
OTHER_STYLE = "cyan"


def can_go_live(console: Console) -> bool:
    """A live panel redraws in place on a terminal, and in a notebook through an
    ``ipywidgets`` output (else Rich would print every frame, one under another)."""
    if console.is_jupyter:
        import importlib.util

        return importlib.util.find_spec("ipywidgets") is not None
    return console.is_terminal and not console.is_dumb_terminal


def outcome_style(label: str) -> str:
    return OUTCOME_STYLES.get(label, OTHER_STYLE)


class LiveView:
    """Receives finished trials from the sweep loop and shows them."""

    def __init__(
        self, console: Console | None = None, *, quiet: bool = False, last: int = 8
    ) -> None:
        self.console = console or Console(highlight=False)
        self.quiet = not can_go_live(self.console)
        """No live panel: one plain line per finished trial (unless :attr:`silent`)."""
        self.counts: Counter[str] = Counter()
        self.last: deque[Any] = deque(maxlen=last)
        self.best: tuple[int, float] | None = None
        self.best_at: float | None = None  # seconds into this sweep the best was found
        self.started = time.monotonic()
        self.study = ""
        self._values: dict[str, set[str]] = {}
        self._live: Live | None = None
        self._progress: Progress | None = None
        self._task: Any = None
        self.silent = quiet
        """``--quiet``: nothing printed while the sweep runs."""

    def start(
        self, study: str, total: int, best: tuple[int, float] | None, *, completed: int = 0
    ) -> None:
        """Begin a sweep of ``total`` trials, ``completed`` of which are already done."""
        self.best, self.best_at = best, None
        self.started = time.monotonic()
        self.study = study
        if self.silent:
            return
        if self.quiet:
            self.console.print(f"study '{study}': running up to {total} trial(s)", markup=False)
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[summary]}"),
            console=self.console,
        )
        self._task = self._progress.add_task(
            escape(study), total=total, completed=completed, summary=self._summary_markup()
        )
        self._live = Live(self.renderable(), console=self.console, refresh_per_second=4)
        self._live.start()

    def trial_done(self, report: Any, best: tuple[int, float] | None) -> None:
        self.counts[report.outcome] += 1
        if best is not None and (self.best is None or best[0] != self.best[0]):
            self.best_at = time.monotonic() - self.started
        self.best = best
        self.last.append(report)
        for key, value in (getattr(report, "params", None) or {}).items():
            self._values.setdefault(key, set()).add(repr(value))
        if self.silent:
            return
        if self.quiet or self._live is None or self._progress is None:
            value = "-" if report.value is None else f"{report.value:.4f}"
            self.console.print(
                f"trial {report.number:>4} {report.state:<8} {report.outcome:<11} "
                f"value={value}  {report.reason}  | {self.summary()}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            return
        self._progress.update(self._task, advance=1, summary=self._summary_markup())
        self._live.update(self.renderable())

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # -- rendering -----------------------------------------------------------------------

    def summary(self) -> str:
        """Counts per outcome and the best trial, as plain text."""
        parts = [f"{k}={v}" for k, v in sorted(self.counts.items())]
        return "  ".join([*parts, self._best_text()])

    def _summary_markup(self) -> str:
        parts = [f"[{outcome_style(k)}]{escape(k)}={v}[/]" for k, v in sorted(self.counts.items())]
        return "  ".join([*parts, f"[bold]{self._best_text()}[/]"])

    def _best_text(self) -> str:
        if self.best is None:
            return "best -"
        text = f"best #{self.best[0]}={self.best[1]:.4f}"
        if self.best_at is not None:  # found during this sweep
            text += f" (found at {clock(self.best_at)})"
        return text

    def varying_params(self) -> list[str]:
        """Parameters that took more than one value among the trials seen so far."""
        return sorted(k for k, values in self._values.items() if len(values) > 1)

    def table(self) -> Table:
        """The last trials, newest last."""
        varying = self.varying_params()
        table = Table(
            box=None,
            header_style="bold",
            pad_edge=False,
            title=f"last {len(self.last)} trial(s)" if self.last else None,
            title_justify="left",
            title_style="dim",
        )
        table.add_column("trial", justify="right", no_wrap=True, min_width=5)
        table.add_column("state", no_wrap=True, min_width=8)
        table.add_column("outcome", no_wrap=True, min_width=8)
        table.add_column("value", justify="right", no_wrap=True, min_width=6)
        if varying:
            table.add_column("params", overflow="ellipsis", max_width=40)
        table.add_column("reason", overflow="ellipsis", min_width=20)
        for r in self.last:
            value = "-" if r.value is None else f"{r.value:.4f}"
            cells = [
                Text(str(r.number)),
                Text(r.state),
                Text(r.outcome, style=outcome_style(r.outcome)),
                Text(value, style="bold" if self._is_best(r) else ""),
            ]
            if varying:
                params = getattr(r, "params", None) or {}
                cells.append(
                    Text(
                        " ".join(f"{k}={_short(params[k])}" for k in varying if k in params),
                        style="dim",
                        no_wrap=True,
                        overflow="ellipsis",
                    )
                )
            cells.append(Text(r.reason, no_wrap=True, overflow="ellipsis"))
            table.add_row(*cells)
        return table

    def renderable(self) -> Group:
        """What the live panel shows: the progress bar over the table of last trials."""
        parts: list[Any] = []
        if self._progress is not None:
            parts.append(self._progress)
        else:
            parts.append(Text(f"{self.study}  {self.summary()}"))
        if self.last:
            parts.append(self.table())
        return Group(*parts)

    def _is_best(self, report: Any) -> bool:
        return self.best is not None and report.number == self.best[0]


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_short(v) for v in value) + "]"
    return str(value)
