"""Everything a user may get wrong: one line naming the problem and the value, exit code 2,
no traceback, and the existing store (a finished study) left exactly as it was.

Most cases run in-process through the ``cli`` fixture; a few run as real processes to
check the real exit code and that stderr carries no traceback.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sweeps.cli import main
from tests._cases import HEALTHY, TINY_PARAMS

ROOT = Path(__file__).resolve().parents[2]


def _space(name: str, params: dict[str, Any] | None = None, **study: Any) -> dict[str, Any]:
    return {
        "study": {"name": name, "sampler": "random", "seed": 0, "pruner": "none", "trials": 2}
        | study,
        "params": {**TINY_PARAMS, "epochs": 1, **(params or {})},
    }


SPACES: dict[str, Any] = {
    "existing": _space("existing", HEALTHY),  # trials that learn: export has a best
    "malformed": "study: {name: x\nparams: [1, 2\n",
    "list": "- a\n- b\n",
    "empty": "",
    "unknown_param": _space("u", {"learnin_rate": 0.1}),
    "wrong_type": _space("w", {"epochs": {"type": "int", "low": "a", "high": 3}}),
    "wrong_fixed_type": _space("w", {"hidden_layers": "thirty"}),
    "low_high": _space("l", {"learning_rate": {"type": "float", "low": 0.5, "high": 0.1}}),
    "log_low": _space(
        "l", {"learning_rate": {"type": "float", "low": 0, "high": 0.1, "log": True}}
    ),
    "empty_choices": _space("e", {"activation": {"type": "categorical", "choices": []}}),
    "bad_activation": _space(
        "a", {"activation": {"type": "categorical", "choices": ["relu", "swishy"]}}
    ),
    "bad_loss": _space("a", {"loss": "hinge"}),
    "bad_init": _space("a", {"weight_init": "xavier"}),
    "bad_optimizer": _space("a", {"optimizer": "adagrad"}),
    "bad_type": _space("a", {"learning_rate": {"type": "loguniform", "low": 1, "high": 2}}),
    "batch0": _space("b", {"batch_size": 0}),
    "batch_big": _space("b", {"batch_size": 20000}),
    "batch_big_range": _space("b", {"batch_size": {"type": "int", "low": 10, "high": 50000}}),
    "epochs0": _space("b", {"epochs": 0}),
    "missing_data": _space("d", {"dataset": "/nonexistent/mnist.npz"}),
    "corrupt_data": _space("d", {"dataset": "CORRUPT"}),
    "unknown_study_key": _space("k", trails=3),
    "bad_metric": _space("k", metric="f1"),
    "incompatible": _space("existing", {"learning_rate": 0.5}),
    "depth0": _space(
        "d", {"hidden_layers": {"depth": {"low": 0, "high": 2}, "width": {"low": 8, "high": 32}}}
    ),
    "width_low_high": _space(
        "d", {"hidden_layers": {"depth": {"low": 1, "high": 2}, "width": {"low": 64, "high": 8}}}
    ),
    "layers_unknown_key": _space(
        "d",
        {
            "hidden_layers": {
                "depth": {"low": 1, "high": 2},
                "width": {"low": 8, "high": 9},
                "per_layers": True,
            }
        },
    ),
    "bad_objective": _space("o", metrics=["val_accuracy", "f1"]),
    "multi_with_pruner": _space("o", metrics=["val_accuracy", "params_count"], pruner="median"),
    "bad_study_timeout": _space("o", timeout="soon"),
    "cmaes_categorical": _space(
        "o",
        {"activation": {"type": "categorical", "choices": ["relu", "tanh"]}},
        sampler="cmaes",
    ),
    "nsgaii_single": _space("o", sampler="nsgaii"),
    "gp": _space("o", {"learning_rate": {"type": "float", "low": 0.01, "high": 0.1}}, sampler="gp"),
    "width_missing": _space("d", {"hidden_layers": {"depth": {"low": 1, "high": 2}}}),
    # tables (the CSV files are written by the ``world`` fixture)
    **{
        f"table_{name}": _space("t", {"dataset": f"FILES/{name}.csv", "label": "y"})
        for name in ("no_label", "text_feature", "nan", "one_class", "tiny")
    },
    "table_bad_scale": _space("t", {"scale": "zscore"}),
}

# (id, argv, what the one error line must contain). Placeholders: {root} the existing
# store, {f} the directory with the input files, {busy} a port that is in use.
CASES: list[tuple[str, list[str], str]] = [
    ("malformed-yaml", ["run", "{f}/malformed.yaml"], "malformed YAML"),
    ("space-is-a-list", ["run", "{f}/list.yaml"], "top level must be a mapping, got list"),
    ("empty-space", ["run", "{f}/empty.yaml"], "top level must be a mapping, got an empty file"),
    (
        "unknown-parameter",
        ["run", "{f}/unknown_param.yaml"],
        "params.learnin_rate: unknown key; did you mean 'learning_rate'?",
    ),
    (
        "wrong-type-bound",
        ["run", "{f}/wrong_type.yaml"],
        "params.epochs.low: must be an integer, got 'a'",
    ),
    (
        "wrong-type-fixed",
        ["run", "{f}/wrong_fixed_type.yaml"],
        "params.hidden_layers: must be a list of positive integers, got 'thirty'",
    ),
    ("low-above-high", ["run", "{f}/low_high.yaml"], "low must be <= high, got low=0.5 high=0.1"),
    ("log-low-not-positive", ["run", "{f}/log_low.yaml"], "must be > 0 when log is true, got 0"),
    (
        "empty-choices",
        ["run", "{f}/empty_choices.yaml"],
        "params.activation.choices: must be a non-empty list, got []",
    ),
    ("unknown-activation", ["run", "{f}/bad_activation.yaml"], "choices[1]: must be one of"),
    (
        "unknown-loss",
        ["run", "{f}/bad_loss.yaml"],
        "params.loss: must be one of mse, quadratic, crossentropy, got 'hinge'",
    ),
    ("unknown-initializer", ["run", "{f}/bad_init.yaml"], "params.weight_init: must be one of"),
    ("unknown-optimizer", ["run", "{f}/bad_optimizer.yaml"], "got 'adagrad'"),
    (
        "unknown-dist-type",
        ["run", "{f}/bad_type.yaml"],
        "must be float, int or categorical, got 'loguniform'",
    ),
    ("batch-size-0", ["run", "{f}/batch0.yaml"], "params.batch_size: must be >= 1, got 0"),
    (
        "batch-larger-than-data",
        ["run", "{f}/batch_big.yaml"],
        "params.batch_size: must be <= 9000 training examples (dataset 'mnist-mini', "
        "validation_split 0.1), got 20000",
    ),
    (
        "batch-range-larger-than-data",
        ["run", "{f}/batch_big_range.yaml"],
        "params.batch_size.high: must be <= 9000",
    ),
    ("epochs-0", ["run", "{f}/epochs0.yaml"], "params.epochs: must be >= 1, got 0"),
    (
        "missing-data-file",
        ["run", "{f}/missing_data.yaml"],
        "dataset '/nonexistent/mnist.npz': file not found",
    ),
    ("corrupt-data-file", ["run", "{f}/corrupt_data.yaml"], "corrupt.npz': not a valid .npz file"),
    (
        "unknown-study-key",
        ["run", "{f}/unknown_study_key.yaml"],
        "study.trails: unknown key; did you mean 'trials'?",
    ),
    ("unknown-metric", ["run", "{f}/bad_metric.yaml"], "study.metric: must be one of"),
    (
        "study-reused-with-other-space",
        ["run", "{f}/incompatible.yaml"],
        "study 'existing': exists with a different search space",
    ),
    (
        "layers-depth-0",
        ["run", "{f}/depth0.yaml"],
        "params.hidden_layers.depth.low: must be an integer from 1 to 16, got 0",
    ),
    (
        "layers-width-low-above-high",
        ["run", "{f}/width_low_high.yaml"],
        "params.hidden_layers.width: low must be <= high, got low=64 high=8",
    ),
    (
        "layers-unknown-key",
        ["run", "{f}/layers_unknown_key.yaml"],
        "params.hidden_layers.per_layers: unknown key; did you mean 'per_layer'?",
    ),
    (
        "layers-width-missing",
        ["run", "{f}/width_missing.yaml"],
        "params.hidden_layers.width: must be a mapping such as {low: 1, high: 3}, got None",
    ),
    (
        "unknown-objective",
        ["run", "{f}/bad_objective.yaml"],
        "study.metrics[1]: must be one of val_accuracy, val_loss, accuracy, loss, params_count, "
        "seconds_per_epoch, got 'f1'",
    ),
    (
        "pruner-with-several-objectives",
        ["run", "{f}/multi_with_pruner.yaml"],
        "study.pruner: Optuna's pruners need a single objective",
    ),
    (
        "export-pick-unknown-rule",
        ["export", "existing", "--pick", "middle", "--out", "{f}/p.yaml"],
        "--pick: must be a trial number, best:<objective> or knee, got 'middle'",
    ),
    (
        "export-pick-unknown-objective",
        ["export", "existing", "--pick", "best:f1", "--out", "{f}/p.yaml"],
        "--pick: best:<objective> takes one of val_accuracy, got 'f1'",
    ),
    (
        "timeout-0m",
        ["run", "{f}/existing.yaml", "--timeout", "0m"],
        "--timeout: must be a duration > 0 such as 90s, 15m, 1h or 1h30m, got '0m'",
    ),
    (
        "worker-timeout-no-unit",
        ["worker", "{f}/existing.yaml", "--timeout", "15"],
        "--timeout: must be a duration > 0 such as 90s, 15m, 1h or 1h30m, got '15'",
    ),
    (
        "study-timeout",
        ["run", "{f}/bad_study_timeout.yaml"],
        "study.timeout: must be a duration > 0 such as 90s, 15m, 1h or 1h30m, got 'soon'",
    ),
    (
        "cmaes-categorical-only",
        ["run", "{f}/cmaes_categorical.yaml"],
        "study.sampler: cmaes needs at least one float or int parameter",
    ),
    (
        "nsgaii-one-objective",
        ["run", "{f}/nsgaii_single.yaml"],
        "study.sampler: nsgaii needs several study.metrics (use tpe), got 'nsgaii'",
    ),
    ("missing-space-file", ["run", "{f}/nope.yaml"], "nope.yaml': file not found"),
    (
        "negative-trials",
        ["run", "{f}/existing.yaml", "--trials", "-3"],
        "Invalid value for '--trials' / '-n'",
    ),
    ("trials-not-a-number", ["run", "{f}/existing.yaml", "-n", "many"], "got 'many'"),
    (
        "unknown-engine",
        ["run", "{f}/existing.yaml", "--engine", "turbo"],
        "--engine: must be one of auto, single, population, got 'turbo'",
    ),
    (
        "zero-workers",
        ["run", "{f}/existing.yaml", "--workers", "0"],
        "Invalid value for '--workers'",
    ),
    (
        "unreachable-storage",
        ["run", "{f}/existing.yaml", "--storage", "postgresql://postgres@127.0.0.1:1/nope"],
        "--storage postgresql+psycopg2://postgres@127.0.0.1:1/nope: cannot connect",
    ),
    (
        "storage-not-a-db-url",
        ["run", "{f}/existing.yaml", "--storage", "redis://localhost/0"],
        "--storage: must be a postgresql://, mysql:// or sqlite:// URL, got 'redis://localhost/0'",
    ),
    (
        "unreachable-tracking-server",
        ["run", "{f}/existing.yaml", "--tracking-uri", "http://127.0.0.1:1"],
        "--tracking-uri http://127.0.0.1:1: no MLflow server at 127.0.0.1:1",
    ),
    ("unknown-option", ["run", "{f}/existing.yaml", "--fast"], "No such option: --fast"),
    ("unknown-command", ["frobnicate"], "No such command 'frobnicate'"),
    ("missing-argument", ["run"], "Missing argument 'space'"),
    (
        "set-without-equals",
        ["train", "--set", "learning_rate"],
        "--set: must look like key=value, got 'learning_rate'",
    ),
    (
        "set-unknown-key",
        ["train", "--set", "learning_rat=0.1"],
        "learning_rat: unknown parameter; did you mean 'learning_rate'?",
    ),
    (
        "set-wrong-type",
        ["train", "--set", "learning_rate=fast"],
        "learning_rate: must be a finite number, got 'fast'",
    ),
    (
        "set-unknown-activation",
        ["train", "--set", "activation=swish"],
        "activation: must be one of",
    ),
    ("train-batch-0", ["train", "--set", "batch_size=0"], "batch_size: must be >= 1, got 0"),
    ("train-epochs-0", ["train", "--set", "epochs=0"], "epochs: must be >= 1, got 0"),
    (
        "train-batch-larger-than-data",
        ["train", "--set", "batch_size=20000"],
        "batch_size: must be <= 9000 training examples, got 20000",
    ),
    (
        "train-missing-data",
        ["train", "--set", "dataset=/nonexistent/x.npz"],
        "dataset '/nonexistent/x.npz': file not found",
    ),
    ("train-corrupt-data", ["train", "--set", "dataset={f}/corrupt.npz"], "not a valid .npz file"),
    (
        "params-file-is-a-list",
        ["train", "--params", "{f}/list.yaml"],
        "params file '{f}/list.yaml': top level must be a mapping, got list",
    ),
    (
        "params-file-missing",
        ["train", "--params", "{f}/none.yaml"],
        "params file '{f}/none.yaml': file not found",
    ),
    ("params-file-bad-json", ["train", "--params", "{f}/bad.json"], "malformed JSON"),
    (
        "export-unknown-study",
        ["export", "nope", "--out", "{f}/best.yaml"],
        "study 'nope': not found in",
    ),
    (
        "export-format-xml",
        ["export", "existing", "--format", "xml", "--out", "{f}/best.xml"],
        "--format: must be yaml or json, got 'xml'",
    ),
    (
        "trials-out-txt",
        ["trials", "existing", "--out", "{f}/trials.txt"],
        "--out: must end in .csv or .parquet, got",
    ),
    ("status-unknown-study", ["status", "nope"], "study 'nope': not found in"),
    (
        "table-no-label-column",
        ["run", "{f}/table_no_label.yaml"],
        "no_label.csv': label column 'y' not found; columns: a, b, target",
    ),
    (
        "table-text-feature",
        ["run", "{f}/table_text_feature.yaml"],
        "feature column 'city' is not numeric (e.g. 'Paris'); drop it, or encode it as numbers",
    ),
    (
        "table-nan-features",
        ["run", "{f}/table_nan.yaml"],
        "4 NaN/inf feature value(s), first in column 'a' (1 there); fill or drop those rows",
    ),
    (
        "table-one-class",
        ["run", "{f}/table_one_class.yaml"],
        "one class only ('yes'): nothing to classify",
    ),
    (
        "table-smaller-than-a-batch",
        ["run", "{f}/table_tiny.yaml"],
        "params.batch_size: must be <= 7 training examples",
    ),
    ("table-bad-scale", ["run", "{f}/table_bad_scale.yaml"], "params.scale: must be one of"),
    (
        "train-params-is-a-space",
        ["train", "--params", "{f}/existing.yaml"],
        "params file '{f}/existing.yaml': is a search space (it has a 'params' section); "
        "sweep it with 'sweeps run {f}/existing.yaml'",
    ),
    *(
        (
            f"{command}-no-store",
            [command, "nope", "--root", "{f}/nostore", *out],
            "study 'nope': not found in optuna=journal:{f}/nostore/optuna.journal "
            "mlflow=sqlite:///{f}/nostore/mlflow.db (nothing has run there yet)",
        )
        for command, out in (
            ("status", []),
            ("report", ["--out", "{f}/r.html"]),
            ("export", ["--out", "{f}/b.yaml"]),
            ("trials", ["--out", "{f}/t.csv"]),
        )
    ),
    (
        "export-register-blank",
        ["export", "existing", "--register", " ", "--out", "{f}/registered.yaml"],
        "--register: must be a non-empty model name, got ' '",
    ),
    ("ui-port-in-use", ["ui", "--port", "{busy}"], "is already in use; pick another with --port"),
    (
        "ui-unknown-study",
        ["ui", "nope"],
        "study 'nope': no MLflow experiment in",
    ),
    ("ui-port-out-of-range", ["ui", "--port", "70000"], "Invalid value for '--port'"),
]

if importlib.util.find_spec("torch") is None:
    CASES.append(
        ("gp-without-torch", ["run", "{f}/gp.yaml"], "study.sampler: gp needs torch: pip install")
    )

# These run as real processes too: the real exit code, and no traceback on stderr.
SUBPROCESS = {
    "malformed-yaml",
    "negative-trials",
    "unknown-command",
    "missing-data-file",
    "unreachable-storage",
    "export-unknown-study",
}
# Commands that open a store get --root of the existing one.
STORE_COMMANDS = {"run", "train", "export", "trials", "status", "ui"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Input files, and an existing store holding a finished study ('existing')."""
    base = tmp_path_factory.mktemp("bad_input")
    files = base / "files"
    files.mkdir()
    (files / "corrupt.npz").write_bytes(b"PK\x03\x04 this is not a zip archive" * 20)
    (files / "bad.json").write_text('{"learning_rate": 0.1,', encoding="utf-8")
    tables = {
        "no_label": "a,b,target\n1,2,0\n3,4,1\n",
        "text_feature": "a,city,y\n1,Paris,0\n2,Rome,1\n",
        "nan": "a,b,y\n1,,0\n2,nan,1\n,inf,0\n4,5,1\n",
        "one_class": "a,b,y\n" + "".join(f"{i},{i},yes\n" for i in range(10)),
        "tiny": "a,b,y\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(10)),
    }
    for name, text in tables.items():
        (files / f"{name}.csv").write_text(text, encoding="utf-8")
    for name, content in SPACES.items():
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        text = text.replace("CORRUPT", str(files / "corrupt.npz")).replace("FILES", str(files))
        (files / f"{name}.yaml").write_text(text, encoding="utf-8")
    root = base / "mlruns"
    try:
        main(["run", str(files / "existing.yaml"), "--root", str(root), "-q", "--engine", "single"])
    except SystemExit as exc:
        assert not exc.code, f"could not build the existing store (exit {exc.code})"
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    yield {"files": files, "root": root, "busy": busy.getsockname()[1]}
    busy.close()


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under the store: size, mtime and content hash."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(root))] = (
                st.st_size,
                st.st_mtime_ns,
                hashlib.sha256(p.read_bytes()).hexdigest(),
            )
    return out


def _argv(argv: list[str], world: dict[str, Any]) -> list[str]:
    args = [
        a.replace("{f}", str(world["files"])).replace("{busy}", str(world["busy"])) for a in argv
    ]
    if args and args[0] in STORE_COMMANDS and "--root" not in args:
        args += ["--root", str(world["root"])]
    return args


def _check(code: int, err: str, expected: str, world: dict[str, Any]) -> None:
    expected = expected.replace("{f}", str(world["files"]))
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{err}"
    assert lines[0].startswith("error: "), lines[0]
    assert expected in lines[0], f"{expected!r} not in {lines[0]!r}"


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)
    assert {c[0] for c in CASES} >= SUBPROCESS


@pytest.mark.parametrize(("case", "argv", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_store_untouched(
    case: str, argv: list[str], expected: str, world: dict[str, Any], cli
) -> None:
    before = snapshot(world["root"])
    assert "optuna.journal" in before and "mlflow.db" in before
    res = cli(*_argv(argv, world))
    _check(res.code, res.err, expected, world)
    assert snapshot(world["root"]) == before, f"{case} changed the store"


@pytest.mark.parametrize("case", sorted(SUBPROCESS))
def test_bad_input_in_a_real_process(case: str, world: dict[str, Any]) -> None:
    argv, expected = next((a, e) for c, a, e in CASES if c == case)
    before = snapshot(world["root"])
    proc = subprocess.run(
        [sys.executable, "-m", "sweeps.cli", *_argv(argv, world)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=world["files"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    _check(proc.returncode, proc.stderr, expected, world)
    assert snapshot(world["root"]) == before


def test_read_commands_leave_no_store_behind(world: dict[str, Any], cli) -> None:
    """A read command looking for a study where nothing has run fails without creating
    the store it looked in (or the file it would have written)."""
    for case, argv, _ in CASES:
        if case.endswith("-no-store"):
            assert cli(*_argv(argv, world)).code == 2
    assert not (world["files"] / "nostore").exists()
    assert not any((world["files"] / name).exists() for name in ("r.html", "b.yaml", "t.csv"))
    assert not (world["files"] / "registered.yaml").exists()


def test_existing_store_still_works_after_all_that(world: dict[str, Any], cli) -> None:
    res = cli("status", "existing", "--root", world["root"])
    assert res.code == 0, res
    assert "COMPLETE" in res.out
    res = cli("export", "existing", "--out", world["files"] / "best.json", "--root", world["root"])
    assert res.code == 0, res
    assert "learning_rate" in json.loads((world["files"] / "best.json").read_text())
