"""The policy's pure parts: approvals needed, auto-approval, and change windows with time
zones and DST. Property-based where the space is large."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.governance import policy

RULES = policy.validate({})


@pytest.mark.parametrize(("severity", "n"), [("P1", 2), ("P2", 1), ("P3", 1), ("P4", 1)])
def test_approvals_needed_by_severity(severity, n):
    assert policy.required_approvals(RULES, severity) == n


@pytest.mark.parametrize(
    ("severity", "risk", "auto"),
    [
        ("P4", "low", True),
        ("P3", "low", True),
        ("P3", "medium", False),
        ("P2", "low", False),
        ("P1", "low", False),
        ("P4", "high", False),
    ],
)
def test_only_low_severity_low_risk_may_be_auto_approved(severity, risk, auto):
    assert policy.auto_approvable(RULES, severity, risk) is auto


BERLIN_OFFICE = {
    "days": ["mon", "tue", "wed", "thu", "fri"],
    "start": "09:00",
    "end": "17:00",
    "tz": "Europe/Berlin",
}
FRIDAY_FREEZE = {"days": ["fri"], "start": "15:00", "end": "23:59", "tz": "Europe/Berlin"}


def test_windows_follow_local_time_across_dst():
    rules = policy.validate({"windows": {"allow": [BERLIN_OFFICE], "deny": []}})
    # 08:30 UTC is 09:30 in Berlin in winter (CET) but 10:30 in summer (CEST): both inside.
    assert policy.window_verdict(rules, datetime(2026, 1, 14, 8, 30, tzinfo=UTC)) == ""
    assert policy.window_verdict(rules, datetime(2026, 7, 15, 8, 30, tzinfo=UTC)) == ""
    # 07:30 UTC: 08:30 in winter (outside), 09:30 in summer (inside).
    assert policy.window_verdict(rules, datetime(2026, 1, 14, 7, 30, tzinfo=UTC))
    assert policy.window_verdict(rules, datetime(2026, 7, 15, 7, 30, tzinfo=UTC)) == ""
    # The Monday after the spring change (29 March 2026): 07:05 UTC is 09:05 CEST.
    assert policy.window_verdict(rules, datetime(2026, 3, 30, 7, 5, tzinfo=UTC)) == ""


def test_a_window_over_midnight_belongs_to_the_day_it_starts():
    night = {"days": ["sat"], "start": "22:00", "end": "02:00", "tz": "UTC"}
    rules = policy.validate({"windows": {"allow": [night], "deny": []}})
    assert policy.window_verdict(rules, datetime(2026, 1, 10, 23, 0, tzinfo=UTC)) == ""  # Sat
    assert policy.window_verdict(rules, datetime(2026, 1, 11, 1, 0, tzinfo=UTC)) == ""  # Sun am
    assert policy.window_verdict(rules, datetime(2026, 1, 12, 1, 0, tzinfo=UTC))  # Mon am


@settings(max_examples=300, deadline=None, derandomize=True)  # the same examples in every CI run
@given(
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    )
)
def test_deny_always_beats_allow(when):
    rules = policy.validate({"windows": {"allow": [BERLIN_OFFICE], "deny": [FRIDAY_FREEZE]}})
    verdict = policy.window_verdict(rules, when)
    local = when.astimezone(ZoneInfo("Europe/Berlin"))
    # The freeze ends at 23:59 (end exclusive, as every window): Friday 23:59:30 is outside.
    in_freeze = local.weekday() == 4 and time(15) <= local.time() < time(23, 59)
    in_office = local.weekday() < 5 and 9 <= local.hour < 17
    if in_freeze:
        assert "freeze" in verdict
    elif in_office:
        assert verdict == ""
    else:
        assert verdict == "outside every change window"


@settings(max_examples=200, deadline=None)
@given(st.datetimes(timezones=st.just(UTC)))
def test_no_windows_means_any_time(when):
    assert policy.window_verdict(RULES, when) == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"approvals_required": {"P1": 0, "P2": 1, "P3": 1, "P4": 1}}, "approvals_required.P1"),
        ({"approval_ttl_minutes": 0}, "approval_ttl_minutes"),
        ({"budgets": {"max_disruption_share": 1.5}}, "max_disruption_share"),
        (
            {"windows": {"allow": [{"start": "25:00", "end": "26:00"}], "deny": []}},
            "windows.allow[0]",
        ),
        (
            {
                "windows": {
                    "allow": [{"start": "09:00", "end": "10:00", "tz": "Mars/Olympus"}],
                    "deny": [],
                }
            },
            "windows.allow[0]",
        ),
    ],
)
def test_bad_rules_are_refused_naming_the_key(change, message):
    with pytest.raises(policy.RulesError, match=message.replace("[", r"\[").replace("]", r"\]")):
        policy.validate(change)
