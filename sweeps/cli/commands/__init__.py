"""The ``sweeps`` commands, grouped by what they work on; :mod:`sweeps.cli.app` registers
them on the one Typer app, in the order ``sweeps --help`` lists them.

* :mod:`~sweeps.cli.commands.common`: the consoles, shared options, config and store helpers;
* :mod:`~sweeps.cli.commands.config`: one parameter dict: ``train``, ``params``, ``doctor``;
* :mod:`~sweeps.cli.commands.study`: running studies: ``run``, ``worker``, ``status``;
* :mod:`~sweeps.cli.commands.results`: a study's results out: ``report``, ``export``, ``trials``;
* :mod:`~sweeps.cli.commands.servers`: web UIs on the store: ``ui``, ``dashboard``.

Heavy imports (TensorFlow, Optuna, MLflow) happen inside the commands so ``--help`` is
instant.
"""
