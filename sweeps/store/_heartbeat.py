"""Dead workers: how often a running trial says it is alive, how long a silent one has
before it is failed as stale, and the retry queued in its place.

Every ``SWEEPS_HEARTBEAT_INTERVAL`` seconds (default 10) a running trial is marked alive;
one silent for ``SWEEPS_GRACE_PERIOD`` seconds (default 30) is failed as stale and retried
at most :data:`MAX_RETRY` times.
"""

from __future__ import annotations

import copy
import os

import optuna

from sweeps.errors import UserError
from sweeps.store.schema import ATTR_OUTCOME, ATTR_OWNER, ATTR_REASON, ATTR_WORKER

HEARTBEAT_INTERVAL = 10
GRACE_PERIOD = 30
ENV_HEARTBEAT_INTERVAL = "SWEEPS_HEARTBEAT_INTERVAL"
ENV_GRACE_PERIOD = "SWEEPS_GRACE_PERIOD"

MAX_RETRY = 3
"""A trial whose process died is retried at most this many times (both stores)."""


def heartbeat_settings() -> tuple[int, int]:
    """``(interval, grace period)`` in seconds, from the environment or the defaults."""
    values = []
    for name, default in (
        (ENV_HEARTBEAT_INTERVAL, HEARTBEAT_INTERVAL),
        (ENV_GRACE_PERIOD, GRACE_PERIOD),
    ):
        raw = os.environ.get(name, "").strip()
        if not raw:
            values.append(default)
            continue
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise UserError(f"{name}: must be a whole number of seconds >= 1, got {raw!r}")
        values.append(value)
    interval, grace = values
    if grace <= interval:
        raise UserError(
            f"{ENV_GRACE_PERIOD}: must be longer than the heartbeat interval ({interval}s), "
            f"got {grace}"
        )
    return interval, grace


class _Retry(optuna.storages.RetryHeartbeatStaleTrialCallback):
    """Optuna's retry, less the dead trial's owner and ending: the retry is nobody's
    until a worker asks it (otherwise a reaper could judge it by the dead owner)."""

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        trial = copy.deepcopy(trial)
        trial.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in _NOT_INHERITED}
        super().__call__(study, trial)


_NOT_INHERITED = (ATTR_OWNER, ATTR_WORKER, ATTR_OUTCOME, ATTR_REASON)


def retry_callback() -> optuna.storages.RetryHeartbeatStaleTrialCallback:
    """What queues the retry of a dead trial: the storage's callback on RDB storages, called
    by :mod:`sweeps.runner.liveness` itself on the journal store (same attrs, same history)."""
    return _Retry(max_retry=MAX_RETRY)
