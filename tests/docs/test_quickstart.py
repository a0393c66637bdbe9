"""``docs/quickstart.ipynb`` runs, top to bottom, in a real Jupyter kernel: the Python
API, the trials frame, a plot, export, retraining and the MLflow model, as a notebook
user sees them (so the notebook cannot rot)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "docs" / "quickstart.ipynb"


@pytest.mark.timeout(600)
def test_the_quickstart_notebook_runs(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook without outputs"
    )
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # a cell that raises fails the test with its traceback
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.outputs]
    texts = [
        o.get("text", "") if o.output_type == "stream" else o.get("data", {}).get("text/plain", "")
        for o in outputs
    ]
    every = "\n".join(texts)
    # What the notebook shows as text has no terminal control codes: colours (SGR, which
    # Jupyter renders) at most, never the cursor moves a live panel redraws with, which a
    # notebook prints as garbage. Rich's own displays are HTML, with a plain fallback.
    shown = [
        t
        for o, t in zip(outputs, texts, strict=True)
        if o.output_type == "stream" or "text/html" not in o.get("data", {})
    ]
    moves = [t for t in shown if re.search(r"\x1b\[[0-9;?]*[A-Za-ln-z]", t)]
    assert not moves, f"terminal control codes printed into the notebook: {moves[0]!r}"
    # the sweep's progress renders as a widget (Rich's live panel in an ipywidgets output)
    run_cell = code[0].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in run_cell)
    assert "StudyResult(study='quickstart', trials=12, best=#" in every
    assert "val_accuracy" in every and "outcome ok" in every
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)
    predicted = next(t for t in texts if t.startswith("predicted"))
    assert "labels" in predicted
    # what it wrote, where it ran: the store, the exported config, the report
    assert (tmp_path / "mlruns" / "optuna.journal").is_file()
    assert "learning_rate" in (tmp_path / "best.yaml").read_text()
    assert (tmp_path / "report.html").is_file()
    json.loads(NOTEBOOK.read_text())  # still valid JSON as committed
