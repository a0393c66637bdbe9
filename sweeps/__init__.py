"""Optuna sweeps over YAML search spaces, every trial tracked in MLflow.

From Python (see :mod:`sweeps.api`)::

    import sweeps
    result = sweeps.run("search_spaces/default.yaml", trials=20)
    result.best, result.trials, result.export("best.yaml"), sweeps.load("default")

``sweeps`` is the only package that knows about Optuna trials; it drives :mod:`trainer`
with plain parameter dicts. Its layers, each importing only those below it:

* :mod:`sweeps.cli` — the ``sweeps`` command and the terminal views;
* :mod:`sweeps.api` — the Python API the commands are built on (:mod:`sweeps.results`:
  what it returns), and :mod:`sweeps.live`, the progress view both show;
* :mod:`sweeps.analysis` — doctor, stability, refine, export and the HTML report;
* :mod:`sweeps.runner` — the sweep loop, the trial session, population glue, liveness, workers;
* :mod:`sweeps.store` — where studies and runs live (Optuna, MLflow, the stored schema);
* :mod:`sweeps.space`, :mod:`sweeps.files`, :mod:`sweeps.errors` — the search space,
  file formats and user errors, shared by all.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sweeps.api import (
        Exported,
        StudyResult,
        TrialSummary,
        export,
        load,
        refine,
        report,
        run,
        train,
    )

__version__ = "0.1.0"

__all__ = [
    "Exported",
    "StudyResult",
    "TrialSummary",
    "__version__",
    "export",
    "load",
    "refine",
    "report",
    "run",
    "train",
]
_API = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    """The API, imported on first use: ``import sweeps`` (and ``sweeps --help``) stays
    instant."""
    if name in _API:
        from sweeps import api

        return getattr(api, name)
    raise AttributeError(f"module 'sweeps' has no attribute {name!r}")
