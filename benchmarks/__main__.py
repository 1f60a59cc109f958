"""`make bench`: run every benchmark and print its figures.

Benchmarks print; they never assert wall-clock time. Each uses the database the environment
configures (DATABASE_URL; PostgreSQL when it is reachable on 127.0.0.1, as in the tests)."""

import os
import sys

from benchmarks import audit_chain


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiops_site.settings")
    for bench in (audit_chain,):
        print(f"\n== {bench.__name__.split('.')[-1]}")
        bench.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
