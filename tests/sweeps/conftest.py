"""Helpers for driving the ``sweeps`` CLI in-process and writing small spaces."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sweeps.cli import main
from tests._cases import TINY_PARAMS


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out[-2000:]!r}, err={self.err[-2000:]!r})"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``sweeps ARGS`` in this process; returns exit code, stdout and stderr."""

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def write_space(tmp_path: Path) -> Callable[..., Path]:
    """Write a search-space YAML into tmp_path; ``params``/``study`` update the tiny space."""

    def write(
        name: str = "tiny",
        study: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Path:
        content = {
            "study": {
                "name": name,
                "sampler": "random",
                "seed": 0,
                "pruner": "none",
                "trials": 4,
                **(study or {}),
            },
            "params": {**TINY_PARAMS, **(params or {})},
        }
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(content, sort_keys=False))
        return path

    return write
