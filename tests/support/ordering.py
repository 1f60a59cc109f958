"""The order the suite runs in, so the xdist workers finish together.

`make test` runs `-n $(PYTEST_WORKERS) --dist worksteal`: worksteal sends each of the n workers
one consecutive share of the collection (as even as integer division makes them), and a worker
that runs dry steals from the end of another's queue. A long test at the end of a queue starts
last and holds the run up alone, so the slowest modules (or single slow tests, by node id;
their CI durations, in seconds, below) go first, each onto the share with the least slow work
so far, longest first; the rest keep their order and fill the shares up, where stealing evens
out the finish. Only the order changes: every test still runs.
"""

import os

import pytest

SLOW_MODULES = {  # measured in CI (2 cores, 3 workers), 2026-12-07 evening
    "tests/test_demo.py": 455,
    "tests/test_soak.py": 450,  # a whole simulated day since that evening (335 s when alone)
    "tests/healing/test_loop_worker.py": 360,
    "tests/test_api_schema.py": 100,
    "tests/governance/test_actions_reliability.py": 75,
    # each size of the page suite on its own, so two workers can share it
    "tests/test_pages_browser.py::test_every_page_as_every_role[desktop]": 80,
    "tests/test_pages_browser.py::test_every_page_as_every_role[phone]": 90,
}


def _module(item) -> str:
    """The SLOW_MODULES key of an item: its own node id when listed, else its module."""
    return item.nodeid if item.nodeid in SLOW_MODULES else item.nodeid.split("::", 1)[0]


def shares(items: list, n: int) -> list:
    """`items` reordered into n consecutive shares of the sizes worksteal sends: each share's
    slow modules first, then the others in their order."""
    # by weight, then name: every worker must order alike (set order differs per process)
    slow = sorted(
        {_module(i) for i in items} & SLOW_MODULES.keys(), key=lambda m: (SLOW_MODULES[m], m)
    )
    bins: list[list[str]] = [[] for _ in range(n)]
    loads = [0] * n
    for module in reversed(slow):  # longest first, onto the lightest share
        k = loads.index(min(loads))
        bins[k].append(module)
        loads[k] += SLOW_MODULES[module]
    rest = [i for i in items if _module(i) not in SLOW_MODULES]
    out, left, taken = [], len(items), 0
    for k in range(n):
        size = left // (n - k)  # what worksteal sends the k-th worker
        left -= size
        share = [i for m in bins[k] for i in items if _module(i) == m]
        fill = max(0, size - len(share))
        out += share + rest[taken : taken + fill]
        taken += fill
    return out + rest[taken:]


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle, which it keeps within modules
def pytest_collection_modifyitems(session, config, items):
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    items[:] = shares(items, workers)  # each worker collects, and orders, the same way
