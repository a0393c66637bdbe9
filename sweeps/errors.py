"""User-facing errors: one line, naming the problem and the value; the CLI exits 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (file, flag, study name); printed as one line, exit code 2."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message)

    def __str__(self) -> str:
        """Every problem, one per line (a traceback in a notebook shows them all)."""
        return "\n".join(self.problems)


EXIT_USAGE = 2
