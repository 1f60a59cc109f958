"""Bounds on what a cluster can report or be asked for, in the units ZeroTouch stores:
millicores, bytes, counts. Pure, no Django.

A value outside them is not a real machine's: the collector stores it as unknown (or a count
clamped) with a warning instead of failing a cycle, and the edges (API, forms, runbooks, cost
plans) refuse it. The storage columns hold at least this much: CPU in 32-bit integers,
memory in 64-bit integers, counts in 32-bit integers.
"""

import math

MAX_CPU_M = 10_000_000  # 10,000 cores: far past any one machine
MAX_MEMORY = 2**50  # 1 PiB: far past any one machine
MAX_COUNT = 2**31 - 1  # restarts, replicas, revisions, event counts
MAX_REPLICAS = 1000  # what an action may ask a workload to run


def out_of_range(value: float | int | None, hi: float) -> bool:
    """True when a reported number is negative, not finite, or past `hi` (None is fine:
    unknown)."""
    if value is None:
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return True
    return value < 0 or value > hi
