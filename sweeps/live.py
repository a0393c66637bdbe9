"""The live view of a running sweep: a progress bar with the best so far and the last trials.

On a terminal it is a ``rich.live`` panel; in quiet mode (CI, logs, pipes) it prints one
plain line per finished trial, which is what log files want.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

_STYLE = {
    "ok": "green",
    "pruned": "yellow",
    "diverged": "red",
    "stuck": "magenta",
    "failed": "bold red",
    "interrupted": "red",
}


class LiveView:
    """Receives finished trials from the sweep loop and shows them."""

    def __init__(
        self, console: Console | None = None, *, quiet: bool = False, last: int = 8
    ) -> None:
        self.console = console or Console(highlight=False)
        self.quiet = quiet or not self.console.is_terminal
        self.counts: Counter[str] = Counter()
        self.last: deque[Any] = deque(maxlen=last)
        self.best: tuple[int, float] | None = None
        self._live: Live | None = None
        self._progress: Progress | None = None
        self._task: Any = None
        self.silent = False

    def start(self, study: str, total: int, best: tuple[int, float] | None) -> None:
        self.best = best
        self.study = study
        if self.quiet:
            if not self.silent:
                self.console.print(f"study '{study}': running up to {total} trial(s)")
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[summary]}"),
            console=self.console,
        )
        self._task = self._progress.add_task(study, total=total, summary=self._summary())
        self._live = Live(self._render(), console=self.console, refresh_per_second=4)
        self._live.start()

    def trial_done(self, report: Any, best: tuple[int, float] | None) -> None:
        self.counts[report.outcome] += 1
        self.best = best
        self.last.append(report)
        if self.quiet:
            if not self.silent:
                value = "-" if report.value is None else f"{report.value:.4f}"
                self.console.print(
                    f"trial {report.number:>4} {report.state:<8} {report.outcome:<11} "
                    f"value={value}  {report.reason}  | {self._summary()}",
                    markup=False,
                    soft_wrap=True,
                )
            return
        assert self._progress is not None and self._live is not None
        self._progress.update(self._task, advance=1, summary=self._summary())
        self._live.update(self._render())

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _summary(self) -> str:
        parts = [f"{k}={v}" for k, v in sorted(self.counts.items())]
        best = f"best #{self.best[0]}={self.best[1]:.4f}" if self.best else "best -"
        return "  ".join([*parts, best])

    def _render(self) -> Group:
        table = Table(box=None, header_style="bold", pad_edge=False)
        for col in ("trial", "state", "outcome", "value", "reason"):
            table.add_column(col, overflow="ellipsis", no_wrap=col == "reason")
        for r in self.last:
            style = _STYLE.get(r.outcome, "")
            value = "-" if r.value is None else f"{r.value:.4f}"
            table.add_row(
                str(r.number),
                r.state,
                f"[{style}]{r.outcome}[/]" if style else r.outcome,
                value,
                r.reason[:90],
            )
        assert self._progress is not None
        return Group(self._progress, table)
