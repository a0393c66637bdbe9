"""Every child process ends with us: SIGTERM (a service manager), SIGHUP (a closed
terminal) or SIGINT (Ctrl-C) to ``sweeps ui``, ``sweeps dashboard`` or ``sweeps run
--workers N`` leaves no child alive and the port free."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from sweeps.cli.ui import port_in_use
from sweeps.store import load_existing, optuna_storage, resolve_store
from tests.sweeps.procs import CLI, cli_env

SIGNALS = [
    signal.SIGTERM,
    pytest.param(signal.SIGHUP, marks=pytest.mark.slow),
    pytest.param(signal.SIGINT, marks=pytest.mark.slow),
]
"""SIGTERM in the default suite; the others behave the same and are slow (a server each)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren, ...), from /proc."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            parent[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            out.add(pid)
    return out


def _start(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*CLI, *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # like a service: only what we send reaches it
    )


def _wait_for(url: str, proc: subprocess.Popen[bytes], within: float) -> bytes:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0].decode()[-2000:]
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return bytes(r.read())
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} never answered")


def _stop_and_check(proc: subprocess.Popen[bytes], sig: int, children: set[int], port: int) -> str:
    proc.send_signal(sig)  # to the command only, as a service manager or terminal does
    try:
        out = proc.communicate(timeout=60)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 15
    while alive(children) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = alive(children)
    for pid in left:  # never leave them behind, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not left, f"children still alive after {signal.Signals(sig).name}: {left}"
    assert not port_in_use("127.0.0.1", port)
    return out


@pytest.mark.timeout(150)
@pytest.mark.parametrize("sig", SIGNALS)
def test_ui_stops_its_mlflow_server_and_workers(sig: int, tmp_path: Path) -> None:
    port = _free_port()
    proc = _start(["ui", "--port", str(port), "--root", str(tmp_path / "mlruns")], tmp_path)
    try:
        assert _wait_for(f"http://127.0.0.1:{port}/health", proc, 90).strip() == b"OK"
        children = descendants(proc.pid)
        assert children  # mlflow server, and the uvicorn it starts
    except BaseException:
        proc.kill()
        raise
    out = _stop_and_check(proc, sig, children, port)
    assert proc.returncode == 0, out[-2000:]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_dashboard_stops_and_frees_its_port(sig: int, tmp_path: Path) -> None:
    pytest.importorskip("optuna_dashboard")
    root = tmp_path / "mlruns"
    study = optuna.create_study(study_name="dash", storage=optuna_storage(resolve_store(root=root)))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    port = _free_port()
    proc = _start(["dashboard", "--port", str(port), "--root", str(root)], tmp_path)
    try:
        body = json.loads(_wait_for(f"http://127.0.0.1:{port}/api/studies", proc, 60))
        assert [s["study_name"] for s in body["study_summaries"]] == ["dash"]
        children = descendants(proc.pid)
    except BaseException:
        proc.kill()
        raise
    out = _stop_and_check(proc, sig, children, port)
    assert proc.returncode == 0, out[-2000:]


@pytest.mark.timeout(180)
@pytest.mark.slow  # SIGINT: test_workers.py's Ctrl-C test, in the default suite
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_run_workers_stops_every_worker(sig: int, write_space, tmp_path: Path) -> None:
    """(SIGINT: test_workers.py's Ctrl-C test.) Each worker ends its trial cleanly."""
    space = write_space("sig", study={"trials": 8}, params={"epochs": 150, "batch_size": 50})
    root = tmp_path / "mlruns"
    proc = _start(
        ["run", str(space), "--workers", "2", "--root", str(root), "--engine", "single", "-q"],
        tmp_path,
    )
    store = resolve_store(root=root)
    deadline = time.monotonic() + 120
    try:
        while True:  # both workers mid-trial
            assert proc.poll() is None, proc.communicate()[0].decode()[-2000:]
            assert time.monotonic() < deadline, "the workers never both trained"
            try:
                trials = load_existing("sig", store).get_trials()
            except Exception:
                trials = []
            if sum(1 for t in trials if t.intermediate_values and t.state.name == "RUNNING") >= 2:
                break
            time.sleep(0.3)
        children = descendants(proc.pid)
        assert len(children) >= 2
    except BaseException:
        proc.kill()
        raise
    proc.send_signal(sig)
    try:
        out = proc.communicate(timeout=120)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    left = alive(children)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, out[-3000:]
    assert proc.returncode == 130, out[-3000:]
    trials = load_existing("sig", store).get_trials()
    assert not [t for t in trials if t.state.name == "RUNNING"]
    assert {t.user_attrs.get("outcome") for t in trials if t.state.name == "FAIL"} == {
        "interrupted"
    }
