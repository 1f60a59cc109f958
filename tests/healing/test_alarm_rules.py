"""The rules that decide when a forecast reaches a person (pure; healing/selectors.py reads the
scores, benchmarks/alarms.py replays a simulated day with the same function)."""

import pytest

from apps.healing.state import risk_persists


@pytest.mark.parametrize(
    ("levels", "risk", "held", "doubted", "reaches"),
    [
        (["critical"], 88, False, False, False),  # one run alone is noise
        (["low", "high", "critical"], 88, False, False, True),  # two of the last three
        (["high", "low", "high"], 60, False, False, True),
        (["high", "high", "low", "low"], 10, False, False, False),  # only the last three count
        (["low", "low", "medium"], 35, True, False, True),  # an open incident holds at medium
        (["low", "low", "low"], 20, True, False, False),  # ... and clears below it
        (["high", "high", "high"], 62, False, True, False),  # doubted: high is not enough
        (["high", "critical", "critical"], 85, False, True, True),  # critical is
        (["medium", "medium", "medium"], None, True, False, False),  # no score: nothing held
    ],
)
def test_it_raises_a_forecast_only_when_it_persists(levels, risk, held, doubted, reaches):
    assert risk_persists(levels, risk, held=held, doubted=doubted) is reaches
