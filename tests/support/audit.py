"""Helpers for the audit log's tests."""

from django.db import connection


def tamper(sql: str, params: list) -> None:
    """Change a row behind the application's back, as an attacker with SQL access would."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            # Superuser-only: skip the append-only trigger for this transaction.
            cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute(sql, params)
