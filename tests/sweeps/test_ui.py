"""``sweeps ui`` starts the MLflow UI on 127.0.0.1 and it answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sweeps.cli.ui import port_in_use, serve_ui, ui_command, ui_url
from sweeps.errors import UserError
from sweeps.store import resolve_store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ui_command_binds_loopback_and_keeps_security(tmp_path: Path) -> None:
    cmd = ui_command(resolve_store(root=tmp_path), host="127.0.0.1", port=5123)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert "--disable-security-middleware" not in cmd


def test_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
        with pytest.raises(UserError, match=f"127.0.0.1:{port} is already in use"):
            serve_ui(resolve_store(root=tmp_path), host="127.0.0.1", port=port, console=None)  # type: ignore[arg-type]


@pytest.mark.timeout(120)
def test_ui_starts_and_answers_on_loopback(tmp_path: Path) -> None:
    port = _free_port()
    root = tmp_path / "mlruns"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sweeps.cli import main; main()",
            "ui",
            "--port",
            str(port),
            "--root",
            str(root),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        start_new_session=True,
    )
    try:
        deadline = time.time() + 90
        body = ""
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert body.strip() == "OK"
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=10",
            timeout=5,
        ) as r:
            assert b"experiments" in r.read() or r.status == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].decode()
    assert f"http://127.0.0.1:{port}" in out


def test_ui_url_lands_on_the_runs_of_an_experiment() -> None:
    assert ui_url("127.0.0.1", 5000) == "http://127.0.0.1:5000"
    assert ui_url("127.0.0.1", 5000, "7") == "http://127.0.0.1:5000/#/experiments/7/runs"
    assert ui_url("0.0.0.0", 80, "1").startswith("http://127.0.0.1:80/")  # a browsable address
