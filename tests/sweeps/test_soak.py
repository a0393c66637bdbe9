"""The soak benchmark, short: a few SIGKILLed workers and one tracking-server outage on
PostgreSQL, and still exactly the requested trials, nothing RUNNING, no metric lost
(``benchmarks/soak.py`` runs the long one)."""

from __future__ import annotations

import warnings

import pytest

from benchmarks.soak import SoakSettings, soak
from tests.sweeps.pg import pg_available


@pytest.mark.postgres
@pytest.mark.timeout(400)
def test_short_soak_meets_the_goal(capsys: pytest.CaptureFixture[str]) -> None:
    why = pg_available()
    if why is not None:
        pytest.skip(f"PostgreSQL not reachable ({why})")
    warnings.filterwarnings("ignore", message=".*is experimental.*")
    settings = SoakSettings(
        trials=6, workers=2, kill_every=12.0, outage=3.0, epochs=2, heartbeat=(1, 4),
        budget_s=300.0,
    )  # fmt: skip
    result = soak(settings, log=lambda _: None)
    with capsys.disabled():
        print("\n" + result.table())
    assert result.kills >= 1 and result.outage_s > 3.0
    assert result.goal_met(), result.table()
