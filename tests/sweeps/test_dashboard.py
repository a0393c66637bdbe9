"""``sweeps dashboard``: optuna-dashboard on the project's Optuna storage (optional extra)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from sweeps.store import optuna_storage, resolve_store

PROJECT = Path(__file__).resolve().parents[2]


def test_missing_extra_is_a_one_line_error(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # import fails
    res = cli("dashboard", "--root", tmp_path / "mlruns")
    assert res.code == 2
    assert res.err.strip() == (
        "error: optuna-dashboard is not installed: pip install 'sweeps[dashboard]' "
        "(or: pip install optuna-dashboard)"
    )


def test_port_in_use_is_a_one_line_error(cli, tmp_path: Path) -> None:
    pytest.importorskip("optuna_dashboard")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = cli("dashboard", "--port", str(port), "--root", tmp_path / "mlruns")
    assert res.code == 2
    assert f"127.0.0.1:{port} is already in use" in res.err


@pytest.mark.timeout(120)
def test_dashboard_serves_the_studies_of_the_store(tmp_path: Path) -> None:
    pytest.importorskip("optuna_dashboard")
    root = tmp_path / "mlruns"
    study = optuna.create_study(study_name="dash", storage=optuna_storage(resolve_store(root=root)))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [
            *(sys.executable, "-c", "from sweeps.cli import main; main()"),
            *("dashboard", "--port", str(port), "--root", str(root)),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        start_new_session=True,
    )
    try:
        deadline, body = time.time() + 60, None
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as r:
                    body = json.loads(r.read())
                    break
            except OSError:
                time.sleep(0.3)
        assert body is not None, "dashboard did not answer"
        names = [s["study_name"] for s in body["study_summaries"]]
        assert names == ["dash"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].decode()
    assert f"Optuna dashboard on http://127.0.0.1:{port}" in out
