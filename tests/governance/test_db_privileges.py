"""The production database layout (deploy/postgres/): migrations run as the owner, the app as
zerotouch_app, which cannot get around the audit log's append-only trigger."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
pytestmark = pytest.mark.skipif(
    os.environ.get("ZT_TEST_REAL_SERVICES") != "1", reason="needs PostgreSQL (fallback run)"
)
ADMIN = "postgres://postgres@127.0.0.1:5432"


@pytest.fixture
def owned_database():
    import psycopg

    suffix = uuid.uuid4().hex[:8]
    owner, db = f"zt_owner_{suffix}", f"zt_priv_{suffix}"
    with psycopg.connect(f"{ADMIN}/postgres", autocommit=True) as c:
        c.execute(f"CREATE ROLE {owner} LOGIN")
        exists = c.execute("SELECT 1 FROM pg_roles WHERE rolname = 'zerotouch_app'").fetchone()
        if not exists:
            c.execute("CREATE ROLE zerotouch_app LOGIN")
        c.execute(f"CREATE DATABASE {db} OWNER {owner}")
        c.execute(f"GRANT CONNECT ON DATABASE {db} TO zerotouch_app")
    try:
        yield (
            f"postgres://{owner}@127.0.0.1:5432/{db}",
            f"postgres://zerotouch_app@127.0.0.1:5432/{db}",
        )
    finally:
        with psycopg.connect(f"{ADMIN}/postgres", autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            c.execute(f"DROP OWNED BY {owner}")
            c.execute(f"DROP ROLE {owner}")
            c.execute("REASSIGN OWNED BY zerotouch_app TO postgres")
            c.execute("DROP OWNED BY zerotouch_app")


def _manage(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_app_role_works_but_cannot_bypass_the_append_only_trigger(owned_database):
    import psycopg

    owner_url, app_url = owned_database
    sql = (ROOT / "deploy/postgres/app-privileges.sql").read_text()
    with psycopg.connect(owner_url, autocommit=True) as c:
        c.execute(sql)
    migrated = _manage(owner_url, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    # The app role does its job: writes a chained audit event through the real code path.
    done = _manage(app_url, "roles", "carol", "approver", "--create", "--reason", "hire")
    assert done.returncode == 0, done.stderr
    assert _manage(app_url, "audit_verify").returncode == 0

    refused = [
        "UPDATE governance_auditevent SET reason = 'x'",
        "DELETE FROM governance_auditevent",
        "TRUNCATE governance_auditevent",
        "ALTER TABLE governance_auditevent DISABLE TRIGGER governance_auditevent_append_only",
        "SET session_replication_role = replica",
        "DROP TRIGGER governance_auditevent_append_only ON governance_auditevent",
    ]
    for statement in refused:
        # The trigger raises insufficient_privilege too, so one error class covers all six.
        with psycopg.connect(app_url) as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(statement)
    assert _manage(app_url, "audit_verify").returncode == 0
