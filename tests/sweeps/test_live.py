"""The live view: progress bar with the best so far, the last trials, quiet lines for logs."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from sweeps.live import OTHER_STYLE, LiveView, outcome_style
from sweeps.runner.session import TrialReport

REPORTS = [
    TrialReport(
        0,
        "COMPLETE",
        "ok",
        0.9132,
        "test accuracy 0.9050 > chance 0.1135",
        {"learning_rate": 0.1, "activation": "relu", "epochs": 2},
    ),
    TrialReport(
        1,
        "PRUNED",
        "diverged",
        None,
        "diverged at epoch 1 batch 4: loss=inf [red]not markup[/]",
        {"learning_rate": 3.0, "activation": "relu", "epochs": 2},
    ),
    TrialReport(
        2,
        "COMPLETE",
        "symmetric",  # a label the view has no special case for is still shown
        0.1135,
        "all 30 hidden units identical " * 8,
        {"learning_rate": 0.01, "activation": "tanh", "epochs": 2},
    ),
]


def terminal() -> Console:
    return Console(file=io.StringIO(), record=True, force_terminal=True, width=120, highlight=False)


def test_live_panel_shows_progress_best_and_last_trials() -> None:
    console = terminal()
    view = LiveView(console, last=8)
    assert not view.quiet
    view.start("demo", 5, None)
    for report in REPORTS:
        view.trial_done(report, (0, 0.9132))
    frame = Console(width=120, record=True, file=io.StringIO())
    frame.print(view.renderable())
    text = frame.export_text()
    view.stop()
    lines = text.splitlines()
    bar = lines[0]
    assert bar.startswith("demo ") and "3/5" in bar
    assert "diverged=1  ok=1  symmetric=1  best #0=0.9132 (found at 0:00)" in bar
    assert lines[1].startswith("last 3 trial(s)")
    header = lines[2].split()
    assert header == ["trial", "state", "outcome", "value", "params", "reason"]
    rows = lines[3:6]
    assert rows[0].split()[:4] == ["0", "COMPLETE", "ok", "0.9132"]
    assert rows[1].split()[:4] == ["1", "PRUNED", "diverged", "-"]
    assert rows[2].split()[:4] == ["2", "COMPLETE", "symmetric", "0.1135"]
    # only the parameters that differ between trials, compactly
    assert "activation=relu learning_rate=0.1 " in rows[0]
    assert "epochs" not in text
    # reasons are plain text (no markup), cut with an ellipsis to fit the width
    assert "loss=inf [red]not" in rows[1]
    assert rows[2].endswith("…") and all(len(line) <= 120 for line in lines)
    # the terminal got the same thing, with colours
    out = console.export_text(clear=False)
    assert "best #0=0.9132" in out and "symmetric" in out
    assert "\x1b[31mdiverged" in console.export_text(styles=True)


def test_live_panel_keeps_only_the_last_trials() -> None:
    view = LiveView(terminal(), last=2)
    view.start("demo", 3, None)
    for report in REPORTS:
        view.trial_done(report, (0, 0.9132))
    view.stop()
    assert [r.number for r in view.last] == [1, 2]
    frame = Console(width=120, record=True, file=io.StringIO())
    frame.print(view.table())
    text = frame.export_text()
    assert "last 2 trial(s)" in text and "COMPLETE  ok" not in text


def test_resumed_sweep_starts_the_bar_at_the_trials_already_done() -> None:
    view = LiveView(terminal())
    view.start("demo", 10, (3, 0.5), completed=6)
    frame = Console(width=120, record=True, file=io.StringIO())
    frame.print(view.renderable())
    view.stop()
    text = frame.export_text()
    assert "6/10" in text and "best #3=0.5000" in text
    assert "trial" not in text  # no empty table before the first trial ends


def test_a_log_file_gets_one_plain_line_per_trial() -> None:
    console = Console(file=io.StringIO(), record=True, width=120, highlight=False)
    view = LiveView(console)
    view.start("demo", 3, None)
    for report in REPORTS:
        view.trial_done(report, (0, 0.9132))
    view.stop()
    lines = console.export_text().splitlines()
    assert lines[0] == "study 'demo': running up to 3 trial(s)"
    assert lines[1].startswith("trial    0 COMPLETE ok          value=0.9132  test accuracy")
    assert lines[2].startswith("trial    1 PRUNED   diverged    value=-  diverged at epoch 1")
    assert "[red]not markup[/]" in lines[2]  # printed as is
    assert lines[3].endswith("| diverged=1  ok=1  symmetric=1  best #0=0.9132 (found at 0:00)")
    assert "\x1b[" not in console.export_text(styles=False)


@pytest.mark.parametrize("tty", [True, False])
def test_quiet_prints_nothing_while_the_sweep_runs(tty: bool) -> None:
    """``--quiet`` is "only the final summary" (the command prints it): no start line and
    no line per trial, on a terminal or in a log."""
    plain = Console(file=io.StringIO(), record=True, width=120, force_terminal=tty)
    view = LiveView(plain, quiet=True)
    assert view.silent and view.quiet != tty  # a pipe or a log file: lines, not a panel
    view.start("demo", 1, None)
    view.trial_done(REPORTS[0], (0, 0.9132))
    view.stop()
    assert plain.export_text() == ""
    assert view.summary() == "ok=1  best #0=0.9132 (found at 0:00)"


def test_the_bar_says_when_the_best_was_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found during this sweep: the moment it became the best, not when it was last seen;
    a best from before a resume has no moment."""
    now = [100.0]
    monkeypatch.setattr("sweeps.live.time.monotonic", lambda: now[0])
    view = LiveView(Console(file=io.StringIO(), width=120))
    view.start("demo", 10, (3, 0.5), completed=6)
    assert view.summary() == "best #3=0.5000"
    now[0] = 183.0
    view.trial_done(REPORTS[0], (0, 0.9132))
    now[0] = 4000.0
    view.trial_done(REPORTS[1], (0, 0.9132))
    assert view.summary().endswith("best #0=0.9132 (found at 1:23)")
    view.trial_done(REPORTS[2], (2, 0.95))
    assert view.summary().endswith("best #2=0.9500 (found at 1:05:00)")


def test_outcome_styles() -> None:
    assert outcome_style("ok") == "green"
    assert outcome_style("diverged") == "red"
    assert outcome_style("something_new") == OTHER_STYLE


def test_every_trainer_label_has_its_own_style_and_colour() -> None:
    """A label the trainer can give (``slow`` included) never falls back to the style
    and colour of an unknown failure kind."""
    from sweeps.analysis.report import OUTCOME_COLORS
    from trainer.outcome import LABELS

    for label in LABELS:
        assert outcome_style(label) != OTHER_STYLE, label
        assert label in OUTCOME_COLORS, label


def test_a_notebook_gets_the_live_panel_when_it_can_redraw_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In Jupyter, Rich redraws a live panel through an ``ipywidgets`` output; without
    ipywidgets it would print every frame, so the view falls back to lines."""
    import importlib.util

    from sweeps.live import can_go_live

    notebook = Console(file=io.StringIO(), force_jupyter=True)
    assert notebook.is_jupyter and not notebook.is_terminal
    has_widgets = importlib.util.find_spec("ipywidgets") is not None
    assert can_go_live(notebook) == has_widgets
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert not can_go_live(notebook)
    assert LiveView(notebook).quiet
