"""The grade of a chaos run, from its facts and the incidents about its workload. Pure."""

from datetime import UTC, datetime, timedelta

from apps.chaos.faults import Fault
from apps.chaos.grading import EXPECTED, grade

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOLDS = [{"probe": "availability >= 50%", "ok": True, "value": 100.0, "detail": "3/3 ready"}]
BROKE = [{"probe": "availability >= 50%", "ok": False, "value": 0.0, "detail": "0/3 ready"}]


def incident(cause, *, detected=30, recovered=90, fix=True, status="resolved"):
    return {
        "id": 7,
        "cause": cause,
        "severity": "P3",
        "preventive": False,
        "status": status,
        "started_at": T0,
        "detected_at": T0 + timedelta(seconds=detected),
        "recovered_at": T0 + timedelta(seconds=recovered) if recovered is not None else None,
        "resolved_at": None,
        "healed_by_zerotouch": fix,
        "action": {
            "id": 3,
            "kind": "patch_resources",
            "status": "succeeded",
            "approved_by": ["alice"],
        }
        if fix
        else None,
    }


def test_every_fault_has_an_expectation():
    assert set(EXPECTED) == set(Fault)


def test_a_pod_kill_left_to_kubernetes_gets_full_marks():
    g = grade(
        fault="pod-kill", injected_at=T0, aborted_by_probe=False, steady_after=HOLDS, incidents=[]
    )
    assert g["score"] == 100 and g["final"]
    assert "Kubernetes recovered by itself and ZeroTouch correctly did nothing" in g["verdict"]


def test_a_fix_for_a_fault_kubernetes_absorbs_is_marked_down():
    g = grade(
        fault="pod-kill",
        injected_at=T0,
        aborted_by_probe=False,
        steady_after=HOLDS,
        incidents=[incident("crash_loop")],
    )
    assert g["score"] == 70 and "should have left alone" in g["verdict"]


def test_memory_stress_seen_named_and_fixed_records_mttd_mttr_and_the_approver():
    g = grade(
        fault="memory-stress",
        injected_at=T0,
        aborted_by_probe=False,
        steady_after=HOLDS,
        incidents=[incident("memory_undersized", detected=30, recovered=90)],
    )
    assert g["detected"] and g["right_cause"] and g["recovered"]
    assert g["mttd_seconds"] == 30 and g["mttr_seconds"] == 60 and g["score"] == 100
    assert "approved by alice" in g["verdict"] and g["final"]


def test_a_missed_failure_and_a_broken_steady_state_score_low_and_wait_for_nothing():
    g = grade(
        fault="cpu-stress", injected_at=T0, aborted_by_probe=True, steady_after=BROKE, incidents=[]
    )
    assert g["score"] == 0 and "did NOT notice" in g["verdict"] and g["final"]


def test_a_grade_waits_while_its_incident_is_open():
    g = grade(
        fault="memory-stress",
        injected_at=T0,
        aborted_by_probe=False,
        steady_after=HOLDS,
        incidents=[incident("memory_leak", recovered=None, status="acting")],
    )
    assert not g["final"] and g["recovered"] is False and g["score"] == 90


def test_nothing_injected_is_not_graded():
    g = grade(
        fault="pod-kill", injected_at=None, aborted_by_probe=False, steady_after=[], incidents=[]
    )
    assert g["score"] is None and g["final"] and "nothing was injected" in g["verdict"]
