"""The small checks every part of a search-space file shares, and how a problem reads.

A problem is one line, ``<key path>: <what is wrong>``; these helpers spell the parts
that recur (a value as typed, an unknown key with its likely meaning)."""

from __future__ import annotations

import difflib
import math
from typing import Any


def plain(value: Any) -> Any:
    """A validated value as YAML would hold it (tuples back to lists)."""
    return list(value) if isinstance(value, tuple) else value


def is_number(value: Any) -> bool:
    """A finite int or float (``True``/``False`` are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fmt(value: Any) -> str:
    """A value as the user typed it: strings quoted, everything else as is."""
    return repr(value) if isinstance(value, str) else str(value)


def unknown_key(key: str, known: list[str], prefix: str) -> str:
    """``<prefix><key>: unknown key``, with the closest known key when one is close."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{prefix}{key}: unknown key{hint}"
