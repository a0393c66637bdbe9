"""The labelled diagnosis suite (``benchmarks/diagnosis_suite.py``) as a regression guard:
every healthy control labelled ``ok`` and nothing else, and at least 95 % of all cases
labelled as their behaviour says. Each case's expected label is written from what the run
does (its loss curve and accuracy), not from what the rules say."""

from __future__ import annotations

import pytest

from benchmarks.diagnosis_suite import CASES, run_case
from trainer.data import Dataset


@pytest.fixture(scope="module")
def results(mini: Dataset) -> list[tuple[str, str, tuple[str, ...], bool]]:
    return [
        (case.name, case.expected, run_case(case, mini).outcome.labels, case.healthy)
        for case in CASES
    ]


def test_suite_is_big_enough_and_half_healthy() -> None:
    assert len(CASES) >= 30
    assert 2 * sum(c.healthy for c in CASES) >= len(CASES)


def test_no_false_alarm_on_a_healthy_control(results) -> None:
    alarms = [
        (name, labels) for name, _, labels, healthy in results if healthy and labels != ("ok",)
    ]
    assert alarms == []


def test_at_least_95_percent_labelled_right(results) -> None:
    wrong = [(name, exp, labels[0]) for name, exp, labels, _ in results if labels[0] != exp]
    assert len(wrong) <= 0.05 * len(results), wrong
