"""``python -m sweeps.cli``: the same as the ``sweeps`` command (workers are started so)."""

from sweeps.cli import main

main()
