"""What the benchmarks share: scratch PostgreSQL databases, a free port, and the crash-loop
scenario the sandbox has no file for."""

import os
import socket
import uuid

import yaml


def scratch_database() -> str:
    """Create a throwaway database so the benchmark never touches real data."""
    import psycopg

    base = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    name = f"zt_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=3) as c:
            c.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        return ""
    return f"{base}/{name}"


def drop_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def use_scratch_database(sqlite_name: str) -> str:
    """Point DATABASE_URL at a new scratch PostgreSQL database (its URL returned, for
    drop_database), or at SQLite /tmp/<sqlite_name>.sqlite3 when PostgreSQL is unavailable
    ("" returned)."""
    url = scratch_database()
    if url:
        os.environ["DATABASE_URL"] = url
    else:
        os.environ["DATABASE_URL"] = f"sqlite:////tmp/{sqlite_name}.sqlite3"
        print("PostgreSQL unavailable: using SQLite")
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def crash_loop_scenario():
    """The sandbox has no crash-loop scenario file: the memory-leak cluster with a config
    change that makes every new api pod crash from minute 15."""
    from apps.clusters.sandbox import scenario

    doc = yaml.safe_load((scenario.SCENARIO_DIR / "memory-leak.yaml").read_text())
    doc["name"] = "crash-loop"
    crash = {"config": "broken"}
    doc["faults"] = [
        {
            "at": "15m",
            "kind": "crash_loop",
            "target": "shop/api",
            "params": crash,
            "expect": ["CrashLoopBackOff"],
        }
    ]
    return scenario.parse(doc)
