"""One swept parameter, ``{type: float|int|categorical, ...}`` -> an Optuna distribution.

Bounds and choices are also checked against the trainer's own rule for that parameter
(:func:`trainer.config.validate_field`), so no value a trial could draw is one that the
trainer rejects. Choices that are lists (``hidden_layers: [64, 32]``) are encoded as JSON
strings, Optuna's choices being scalars; the codes map them back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from sweeps.space.checks import fmt, is_number, plain, unknown_key
from trainer.config import validate_field

_SPEC_KEYS = {
    "float": ("type", "low", "high", "log", "step"),
    "int": ("type", "low", "high", "step", "log"),
    "categorical": ("type", "choices"),
}


def parse_spec(
    name: str, spec: Mapping[str, Any], path: str, problems: list[str], *, trainer: bool = True
) -> tuple[BaseDistribution | None, dict[str, Any]]:
    """``(distribution, codes)`` for the spec of ``name`` at key path ``path``; ``None``
    with each problem appended to ``problems``. ``trainer=False`` skips the trainer's rule
    (for specs that are not a trainer parameter, such as a layer width)."""
    kind = spec.get("type")
    if kind not in _SPEC_KEYS:
        problems.append(f"{path}.type: must be float, int or categorical, got {fmt(kind)}")
        return None, {}
    before = len(problems)
    for key in spec:
        if key not in _SPEC_KEYS[kind]:
            problems.append(unknown_key(str(key), list(_SPEC_KEYS[kind]), f"{path}."))
    if kind == "categorical":
        return _parse_choices(name, spec, path, problems, before)
    return _parse_range(name, kind, spec, path, problems, before, trainer=trainer), {}


def _parse_choices(
    name: str, spec: Mapping[str, Any], path: str, problems: list[str], before: int
) -> tuple[BaseDistribution | None, dict[str, Any]]:
    choices = spec.get("choices")
    if not isinstance(choices, list) or not choices:
        problems.append(f"{path}.choices: must be a non-empty list, got {fmt(choices)}")
        return None, {}
    codes: dict[str, Any] = {}
    values: list[Any] = []
    for i, choice in enumerate(choices):
        value, error = validate_field(name, choice)
        if error:
            problems.append(f"{path}.choices[{i}]: {error.rule}")
            continue
        value = plain(value)
        if isinstance(value, list):  # Optuna choices must be scalars: encode as JSON
            code = json.dumps(value)
            codes[code] = value
            value = code
        if value in values:
            problems.append(f"{path}.choices[{i}]: duplicate choice {fmt(choice)}")
        values.append(value)
    if len(problems) > before:
        return None, {}
    return CategoricalDistribution(values), codes


def _parse_range(
    name: str,
    kind: str,
    spec: Mapping[str, Any],
    path: str,
    problems: list[str],
    before: int,
    *,
    trainer: bool,
) -> BaseDistribution | None:
    low: Any = spec.get("low")
    high: Any = spec.get("high")
    step: Any = spec.get("step")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        problems.append(f"{path}.log: must be true or false, got {fmt(log)}")
    for key, val in (("low", low), ("high", high)):
        if not is_number(val) or (kind == "int" and not float(val).is_integer()):
            want = "an integer" if kind == "int" else "a finite number"
            problems.append(f"{path}.{key}: must be {want}, got {fmt(val)}")
    if step is not None and (not is_number(step) or step <= 0):
        problems.append(f"{path}.step: must be > 0, got {fmt(step)}")
    if len(problems) > before:
        return None
    if low > high:
        problems.append(f"{path}: low must be <= high, got low={low} high={high}")
    if log is True and low <= 0:
        problems.append(f"{path}.low: must be > 0 when log is true, got {low}")
    if log is True and step is not None:
        problems.append(f"{path}: step and log cannot be used together, got step={step}")
    if len(problems) > before:
        return None
    for key, val in (("low", low), ("high", high)) if trainer else ():
        _, error = validate_field(name, int(val) if kind == "int" else float(val))
        if error:
            problems.append(f"{path}.{key}: {error.rule}")
    if len(problems) > before:
        return None
    if kind == "int":
        return IntDistribution(int(low), int(high), log=log, step=int(step or 1))
    return FloatDistribution(
        float(low), float(high), log=log, step=None if step is None else float(step)
    )
