"""A real ``mlflow server`` on a free 127.0.0.1 port, that a test can stop and restart."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MlflowServer:
    """``mlflow server`` on ``backend`` (a SQLAlchemy URL), artifacts under ``workdir``."""

    def __init__(self, backend: str, workdir: Path, port: int | None = None) -> None:
        self.backend, self.workdir = backend, workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "mlflow-server.log"

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, within: float = 120) -> None:
        cmd = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", self.backend,
            "--artifacts-destination", str(self.workdir / "mlartifacts"),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                cmd, cwd=self.workdir, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                    if r.read().strip() == b"OK":
                        return
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"mlflow server did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Stop the server and its workers (``SIGKILL``: a crash; the port goes quiet)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=30)
        self.proc = None
