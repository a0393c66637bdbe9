"""``set_user_attrs`` and ``report_values``: a trial's attributes, and a population's epoch
values, in one journal write each, read back as what Optuna's own calls write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend

from sweeps.store import report_values, set_many_user_attrs, set_user_attrs

ATTRS: dict[str, Any] = {
    "outcome": "ok",
    "reason": "trained: val_accuracy 0.95",
    "test_accuracy": 0.9512,
    "epochs_run": 4,
    "labels": ["ok", "slow"],
    "evidence": {"dead_fraction": 0.0, "loss_drop": 0.71},
    "preflight": [],
}


def _storage(kind: str, path: Path) -> Any:
    if kind == "journal":
        return optuna.storages.JournalStorage(JournalFileBackend(str(path / "j.log")))
    return optuna.storages.RDBStorage(f"sqlite:///{path / 'o.db'}")


def _reopen(kind: str, path: Path) -> Any:
    return _storage(kind, path)  # a fresh reader: what another process sees


@pytest.mark.parametrize("kind", ["journal", "rdb"])
def test_attrs_read_back_as_set_user_attr_writes_them(kind: str, tmp_path: Path) -> None:
    study = optuna.create_study(study_name="s", storage=_storage(kind, tmp_path))
    ours, theirs = study.ask(), study.ask()
    set_user_attrs(ours, ATTRS)
    for key, value in ATTRS.items():
        theirs.set_user_attr(key, value)
    assert ours.user_attrs == theirs.user_attrs == ATTRS  # the trial object sees them too
    study.tell(ours, 0.5)
    study.tell(theirs, 0.5)
    again = optuna.load_study(study_name="s", storage=_reopen(kind, tmp_path))
    read = [t.user_attrs for t in again.trials]
    assert read == [ATTRS, ATTRS]


def test_a_journal_gets_one_write_for_all_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = _storage("journal", tmp_path)
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    writes: list[int] = []
    real = storage._backend.append_logs
    monkeypatch.setattr(
        storage._backend, "append_logs", lambda logs: (writes.append(len(logs)), real(logs))
    )
    set_user_attrs(trial, ATTRS)
    assert writes == [len(ATTRS)]
    for key, value in ATTRS.items():
        trial.set_user_attr(key, value)
    assert writes == [len(ATTRS)] + [1] * len(ATTRS)  # Optuna's own: one write each


@pytest.mark.parametrize("kind", ["journal", "rdb"])
def test_several_trials_attrs_in_one_write_read_back_per_trial(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The members of a population that end together: every trial's attributes (some
    without any) in one journal write, each read back on its own trial."""
    storage = _storage(kind, tmp_path)
    study = optuna.create_study(study_name="s", storage=storage)
    a, b, c = study.ask(), study.ask(), study.ask()
    writes: list[int] = []
    if kind == "journal":
        real = storage._backend.append_logs
        monkeypatch.setattr(
            storage._backend, "append_logs", lambda logs: (writes.append(len(logs)), real(logs))
        )
    set_many_user_attrs([(a, ATTRS), (b, {}), (c, {"outcome": "pruned"})])
    if kind == "journal":
        assert writes == [len(ATTRS) + 1]
    assert (a.user_attrs, b.user_attrs, c.user_attrs) == (ATTRS, {}, {"outcome": "pruned"})
    for trial in (a, b, c):
        study.tell(trial, 0.5)
    again = optuna.load_study(study_name="s", storage=_reopen(kind, tmp_path))
    assert [t.user_attrs for t in again.trials] == [ATTRS, {}, {"outcome": "pruned"}]


@pytest.mark.parametrize("kind", ["journal", "rdb"])
def test_a_finished_trial_refuses_them_as_it_refuses_one(kind: str, tmp_path: Path) -> None:
    study = optuna.create_study(storage=_storage(kind, tmp_path))
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(Exception) as one:
        trial.set_user_attr("outcome", "late")
    with pytest.raises(Exception) as many:
        set_user_attrs(trial, ATTRS)
    assert type(many.value) is type(one.value)
    assert study.trials[0].user_attrs == {}  # and no refused entry is left to raise here
    later = study.ask()
    set_user_attrs(later, ATTRS)
    assert later.user_attrs == ATTRS


@pytest.mark.parametrize("kind", ["journal", "rdb"])
def test_values_reported_together_read_back_as_reported_one_by_one(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = _storage(kind, tmp_path)
    study = optuna.create_study(study_name="s", storage=storage)
    ours = [study.ask() for _ in range(3)]
    theirs = [study.ask() for _ in range(3)]
    writes: list[int] = []
    if kind == "journal":
        real = storage._backend.append_logs
        monkeypatch.setattr(
            storage._backend, "append_logs", lambda logs: (writes.append(len(logs)), real(logs))
        )
    for step in (1, 2):
        report_values([(t, 0.1 * i + step, step) for i, t in enumerate(ours)])
        for i, t in enumerate(theirs):
            t.report(0.1 * i + step, step)
    report_values([(ours[0], 9.0, 2), (ours[1], 9.0, 2)])  # already reported: ignored
    if kind == "journal":
        assert writes == [3, 1, 1, 1] * 2  # one write per epoch of ours; one per value of theirs
    again = optuna.load_study(study_name="s", storage=_reopen(kind, tmp_path)).trials
    assert [t.intermediate_values for t in again[:3]] == [t.intermediate_values for t in again[3:]]
    assert again[1].intermediate_values == {1: 1.1, 2: 2.1}
    assert study.pruner.prune(study, study.trials[0]) is False  # the pruners read them
