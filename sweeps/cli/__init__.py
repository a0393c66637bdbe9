"""The ``sweeps`` command line (Typer) and the terminal views it prints: the live sweep
view, status, doctor and stability tables. ``sweeps.cli:main`` is the entry point."""

from sweeps.cli.app import app, configure_logging, main

__all__ = ["app", "configure_logging", "main"]
