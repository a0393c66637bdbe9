"""Optuna sweeps over YAML search spaces, every trial tracked in MLflow.

``sweeps`` is the only package that knows about Optuna trials; it drives :mod:`trainer`
with plain parameter dicts. Its layers, each importing only those below it:

* :mod:`sweeps.cli` — the ``sweeps`` command and the terminal views;
* :mod:`sweeps.analysis` — doctor, stability, export and the HTML report;
* :mod:`sweeps.run` — the sweep loop, the trial session, population glue, liveness, workers;
* :mod:`sweeps.store` — where studies and runs live (Optuna, MLflow, the stored schema);
* :mod:`sweeps.space`, :mod:`sweeps.files`, :mod:`sweeps.errors` — the search space,
  file formats and user errors, shared by all.
"""

__version__ = "0.1.0"
