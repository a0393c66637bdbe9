"""Optuna sweeps over YAML search spaces, every trial tracked in MLflow.

``sweeps`` is the only package that knows about Optuna trials; it drives
:mod:`trainer` with plain parameter dicts.
"""

__version__ = "0.1.0"


def quiet_logs() -> None:
    """Keep library chatter (MLflow INFO lines, Optuna experimental warnings) off the CLI."""
    import logging
    import warnings

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*is experimental.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module="optuna")
    # We drive heartbeats ourselves around ask/tell (sweeps.heartbeat), not via optimize().
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")


quiet_logs()
