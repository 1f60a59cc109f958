"""`make bench`: run every benchmark, each in its own process, and print its figures.

Benchmarks print; they never assert wall-clock time. Each uses a scratch PostgreSQL database
(dropped afterwards) when PostgreSQL is reachable on 127.0.0.1, as in the tests."""

import subprocess
import sys

BENCHMARKS = [
    "clusters",
    "audit_chain",
    "actions",
    "anomaly",
    "anomaly_real",
    "alarms",
    "failure",
    "healing",
    "chaos",
    "costs",
    "soak",
]


def main() -> int:
    failed = 0
    for name in BENCHMARKS:
        print(f"\n== {name}", flush=True)
        failed += subprocess.call([sys.executable, "-m", f"benchmarks.{name}"]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
