"""Time budgets: durations parse or fail in one line; a sweep past its budget starts no
new trial, leaves none running, and resumes."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeps.budget import format_duration, parse_duration
from sweeps.space import parse_space
from sweeps.store import load_existing, resolve_store


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("2.5m", 150), (45, 45)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text, "--timeout") == seconds
    assert parse_duration(format_duration(seconds), "x") == seconds


@pytest.mark.parametrize("text", ["0m", "0", 0, -5, "15", "soon", "1m1m", "", "1d", True, None])
def test_bad_durations_name_field_and_value(text: object) -> None:
    with pytest.raises(ValueError, match=r"^--timeout: must be a duration > 0 such as 90s"):
        parse_duration(text, "--timeout")


def test_study_timeout_in_the_space() -> None:
    space = parse_space({"study": {"name": "t", "timeout": "1h30m"}, "params": {"epochs": 1}})
    assert space.settings.timeout == 5400
    fingerprint = parse_space({"study": {"name": "t"}, "params": {"epochs": 1}}).fingerprint()
    assert space.fingerprint() == fingerprint  # a budget does not change the study


def test_sweep_stops_starting_trials_at_the_budget_and_resumes(
    cli, write_space, tmp_path: Path
) -> None:
    space = write_space("budget", study={"trials": 40}, params={"epochs": 1})
    root = tmp_path / "mlruns"
    res = cli("run", space, "--root", root, "--quiet", "--timeout", "2s", "--engine", "single")
    assert res.code == 0, res
    assert "time budget reached after" in res.out and "resume with the same command" in res.out
    study = load_existing("budget", resolve_store(root=root))
    trials = study.get_trials(deepcopy=False)
    assert len(trials) < 40
    assert all(t.state.is_finished() for t in trials)  # nothing left RUNNING
    res = cli("run", space, "--root", root, "--quiet", "-n", "1", "--engine", "single")
    assert res.code == 0 and "time budget" not in res.out, res
    assert len(study.get_trials(deepcopy=False)) == len(trials) + 1
