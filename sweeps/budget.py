"""Time budgets (``--timeout 15m``, ``study.timeout``): durations such as ``90s``, ``15m``,
``1h`` or ``1h30m`` turned into seconds, or a one-line error naming the field."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(value: object, field: str) -> float:
    """Seconds in ``value`` (``"1h30m"``, ``"90s"``, or a plain number of seconds) or
    ``ValueError("FIELD: must be ...")``; a budget must be > 0."""
    rule = f"{field}: must be a duration > 0 such as 90s, 15m, 1h or 1h30m, got {value!r}"
    if isinstance(value, bool):
        raise ValueError(rule)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        parts = _PART.findall(text)
        units = [u for _, u in parts]
        if not text or "".join(n + u for n, u in parts) != text or len(set(units)) != len(units):
            raise ValueError(rule)
        seconds = sum(float(n) * _UNIT[u] for n, u in parts)
    else:
        raise ValueError(rule)
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(rule)
    return seconds


def format_duration(seconds: float) -> str:
    """``5400`` -> ``1h30m``; the inverse of :func:`parse_duration` for whole seconds."""
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{sec}s" if sec else "")
    return out or "0s"
