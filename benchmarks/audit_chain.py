"""Audit log: append rate (one writer, and 8 concurrent writers sharing one chain) and
verification rate, on a scratch PostgreSQL database (SQLite when PostgreSQL is unavailable)."""

import os
import threading
import time
import tracemalloc

from benchmarks.support import drop_database, use_scratch_database

ROWS_SINGLE = 2000
WRITERS, ROWS_EACH = 8, 250


def run() -> None:
    url = use_scratch_database("zt_bench")
    os.environ.setdefault("HTTPS", "0")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    from apps.core.selectors import audit_chain_problems
    from apps.core.services import audit_record

    try:
        call_command("migrate", verbosity=0)
        print(f"database: {connection.vendor}")
        t = time.perf_counter()
        for i in range(ROWS_SINGLE):
            audit_record(
                actor="system:bench",
                verb="bench.single",
                target_id=str(i),
                before={"i": i},
                after={"i": i + 1},
                reason="benchmark",
            )
        dt = time.perf_counter() - t
        print(
            f"append, 1 writer:  {ROWS_SINGLE / dt:8.0f} events/s "
            f"({dt * 1000 / ROWS_SINGLE:.2f} ms each)"
        )

        def writer(n: int) -> None:
            for i in range(ROWS_EACH):
                audit_record(actor=f"system:bench-{n}", verb="bench.concurrent", target_id=str(i))
            connections.close_all()

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        dt = time.perf_counter() - t
        print(
            f"append, {WRITERS} writers: {WRITERS * ROWS_EACH / dt:8.0f} events/s "
            "(one linear chain)"
        )

        tracemalloc.start()
        t = time.perf_counter()
        problems = list(audit_chain_problems())
        dt = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        total = ROWS_SINGLE + WRITERS * ROWS_EACH
        print(
            f"verify:            {total / dt:8.0f} events/s over {total} events, "
            f"peak Python memory {peak / 2**20:.1f} MiB, problems: {len(problems)}"
        )
    finally:
        connections.close_all()
        if url:
            drop_database(url)


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiops_site.settings")
    os.environ.setdefault("HTTPS", "0")
    run()
