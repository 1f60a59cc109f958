"""The order the suite runs in, so two xdist workers finish together.

`make test` runs `-n 2 --dist worksteal`: the first worker is sent the first half of the
collection, the second worker the rest, and a worker that runs dry steals from the end of the
other's queue. A long test at the end of a queue starts last and holds the run up alone, so the
slowest modules (their CI durations, in seconds, below) go first, split between the two halves
longest-first onto the lighter half; the rest keep their order and fill each half up, where
stealing evens out the finish. Only the order changes: every test still runs.
"""

import pytest

SLOW_MODULES = {  # measured in CI (2 cores), 2026-12-07
    "tests/test_demo.py": 450,
    "tests/healing/test_loop_worker.py": 330,
    "tests/test_soak.py": 260,
    "tests/governance/test_actions_reliability.py": 110,
    "tests/test_api_schema.py": 95,
}


def _module(item) -> str:
    return item.nodeid.split("::", 1)[0]


def halves(items: list) -> list:
    """`items` reordered: [slow of the first half, others..., slow of the second half, others...]
    with the first half exactly len(items) // 2 long (what worksteal sends the first worker)."""
    slow = sorted({_module(i) for i in items} & SLOW_MODULES.keys(), key=SLOW_MODULES.get)
    bins: list[list[str]] = [[], []]
    loads = [0, 0]
    for module in reversed(slow):  # longest first, onto the lighter half
        k = loads.index(min(loads))
        bins[k].append(module)
        loads[k] += SLOW_MODULES[module]
    first = [i for m in bins[0] for i in items if _module(i) == m]
    second = [i for m in bins[1] for i in items if _module(i) == m]
    rest = [i for i in items if _module(i) not in SLOW_MODULES]
    fill = max(0, len(items) // 2 - len(first))
    return first + rest[:fill] + second + rest[fill:]


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle, which it keeps within modules
def pytest_collection_modifyitems(session, config, items):
    items[:] = halves(items)  # each worker collects, and orders, the same way
