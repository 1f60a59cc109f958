import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

from apps.core import chain
from apps.core.models import AppendOnlyError, AuditChainHead, AuditEvent
from apps.core.services import audit_record
from tests.support.audit import tamper

POSTGRES = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="needs PostgreSQL (fallback run)"
)


def _events(n: int, actor="system:test"):
    return [
        audit_record(
            actor=actor,
            verb="test.event",
            target_type="thing",
            target_id=str(i),
            target_repr=f"thing {i}",
            before={"n": i},
            after={"n": i + 1, "ü": "é"},
            reason=f"reason {i}",
        )
        for i in range(n)
    ]


def _verify() -> tuple[bool, str]:
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", stdout=out, stderr=err)
    except CommandError as exc:
        return False, f"{err.getvalue()} {exc}"
    return True, out.getvalue()


@pytest.mark.django_db
def test_it_chains_each_event_to_the_previous_one(adam):
    first, second = _events(2)
    assert first.seq == 1 and first.prev_hash == chain.GENESIS
    assert second.seq == 2 and second.prev_hash == first.hash
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.hash) == (2, second.hash)
    ok, out = _verify()
    assert ok, out
    assert "2 events" in out


@pytest.mark.django_db
def test_it_records_the_request_context(client, adam):
    from apps.core import context

    with context.bound(request_id="req-123", client_ip="10.1.2.3"):
        ev = audit_record(actor=adam, verb="test.event", target_type="thing", target_id="1")
    ev.refresh_from_db()
    assert (ev.actor, ev.actor_user_id, ev.request_id, ev.client_ip) == (
        "adam",
        adam.pk,
        "req-123",
        "10.1.2.3",
    )


@pytest.mark.django_db
def test_it_refuses_orm_updates_and_deletes():
    (ev,) = _events(1)
    ev.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        ev.save()
    with pytest.raises(AppendOnlyError):
        ev.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=ev.pk).update(reason="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    ev.refresh_from_db()
    assert ev.reason == "reason 0"


@POSTGRES
@pytest.mark.django_db
def test_it_refuses_raw_sql_updates_and_deletes_in_postgres():
    from django.db import DatabaseError

    (ev,) = _events(1)
    for sql in (
        "UPDATE governance_auditevent SET reason = 'x' WHERE id = %s",
        "DELETE FROM governance_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(sql, [ev.pk])
    assert AuditEvent.objects.filter(pk=ev.pk, reason="reason 0").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("reason", "reason 2!"),  # one byte appended
        ("actor", "system:tesT"),  # one byte changed
        ("target_id", "3"),
        ("verb", "test.evenT"),
        ("client_ip", "127.0.0.2"),
    ],
)
def test_it_finds_one_changed_byte(column, value):
    events = _events(5)
    victim = events[2]
    tamper(f"UPDATE governance_auditevent SET {column} = %s WHERE id = %s", [value, victim.pk])
    ok, out = _verify()
    assert not ok
    assert f"id={victim.pk} seq={victim.seq}" in out
    assert "hash mismatch" in out


@pytest.mark.django_db
def test_it_finds_a_changed_json_value():
    events = _events(4)
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    tamper(
        f"UPDATE governance_auditevent SET after = %s{cast} WHERE id = %s",
        ['{"n": 9, "ü": "é"}', events[1].pk],
    )
    ok, out = _verify()
    assert not ok and f"id={events[1].pk} seq={events[1].seq}" in out
    # Writing the original value back restores the chain: the hash covers content, not storage.
    tamper(
        f"UPDATE governance_auditevent SET after = %s{cast} WHERE id = %s",
        ['{"ü": "é", "n": 2}', events[1].pk],
    )
    ok, out = _verify()
    assert ok, out


@POSTGRES
@pytest.mark.django_db
def test_it_finds_a_timestamp_moved_by_one_microsecond():
    events = _events(4)
    tamper(
        "UPDATE governance_auditevent SET created_at = created_at + interval '1 microsecond' "
        "WHERE id = %s",
        [events[3].pk],
    )
    ok, out = _verify()
    assert not ok and f"seq={events[3].seq}" in out


@pytest.mark.django_db
def test_it_finds_a_removed_row():
    events = _events(5)
    tamper("DELETE FROM governance_auditevent WHERE id = %s", [events[1].pk])
    ok, out = _verify()
    assert not ok
    assert f"seq={events[2].seq}" in out and "sequence gap" in out


@pytest.mark.django_db
def test_it_finds_the_last_row_removed():
    events = _events(3)
    tamper("DELETE FROM governance_auditevent WHERE id = %s", [events[-1].pk])
    ok, out = _verify()
    assert not ok
    assert "chain head" in out


@pytest.mark.django_db
def test_it_finds_a_rewritten_row_with_a_recomputed_hash():
    """Recomputing the changed row's own hash is not enough: the next row still points at
    the old one."""
    events = _events(3)
    victim = events[1]
    fields = {f: getattr(victim, f) for f in chain.HASHED_FIELDS if f != "created_at"}
    fields["created_at"] = victim.created_at.isoformat(timespec="microseconds")
    fields["reason"] = "innocent"
    forged = chain.row_hash(victim.prev_hash, fields)
    tamper(
        "UPDATE governance_auditevent SET reason = %s, hash = %s WHERE id = %s",
        ["innocent", forged, victim.pk],
    )
    ok, out = _verify()
    assert not ok
    assert f"seq={events[2].seq}" in out and "prev_hash" in out


@POSTGRES
@pytest.mark.django_db(transaction=True)
def test_it_keeps_one_linear_chain_with_8_concurrent_writers():
    writers, per_writer = 8, 25
    barrier = threading.Barrier(writers)
    errors = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                audit_record(actor=f"system:writer-{n}", verb="test.concurrent", target_id=str(i))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, writers * per_writer + 1))
    ok, out = _verify()
    assert ok, out
    per_actor = {f"system:writer-{n}": per_writer for n in range(writers)}
    for actor, count in per_actor.items():
        assert AuditEvent.objects.filter(actor=actor).count() == count


@POSTGRES
@pytest.mark.django_db(transaction=True)
def test_it_exits_non_zero_from_the_command_line():
    """Operators script against the exit status: check it in a real process."""
    import os
    import subprocess
    import sys

    s = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}",
    }
    events = _events(3)

    def run():
        return subprocess.run(
            [sys.executable, "manage.py", "audit_verify"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    intact = run()
    assert intact.returncode == 0, intact.stderr
    assert "3 events" in intact.stdout
    with transaction.atomic():
        tamper("UPDATE governance_auditevent SET reason = 'x' WHERE id = %s", [events[0].pk])
    broken = run()
    assert broken.returncode != 0
    assert f"id={events[0].pk} seq=1" in broken.stderr


@pytest.mark.django_db
def test_it_stores_numbers_as_they_were_hashed():
    """jsonb rewrites some numbers (1e16, -0.0); the chain must not mistake that for tampering."""
    odd = {
        "big": 1e16,
        "huge": 1.5e300,
        "negzero": -0.0,
        "tenth": 0.1,
        "int": 10**20,
        "list": [1.0, 2, True, None, "3"],
    }
    audit_record(actor="system:test", verb="test.numbers", before=odd, after={"x": 1e-7})
    ok, out = _verify()
    assert ok, out


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("remote", "forwarded", "stored"),
    [
        ("2001:DB8::1", None, "2001:db8::1"),
        ("2001:db8:0:0:0:0:0:1", None, "2001:db8::1"),
        ("10.0.0.1", "1.2.3.4:5678", "1.2.3.4"),
        ("10.0.0.1", "[2001:db8::2]:443", "2001:db8::2"),
        ("10.0.0.1", "not-an-ip", "10.0.0.1"),
    ],
)
def test_it_records_client_addresses_so_they_verify(
    client, settings, vic, remote, forwarded, stored
):
    settings.TRUSTED_PROXY_COUNT = 1 if forwarded else 0
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    response = client.post(
        "/login/", {"username": "vic", "password": "vic-pass"}, REMOTE_ADDR=remote, headers=headers
    )
    assert response.status_code == 302
    assert AuditEvent.objects.get(verb="auth.login").client_ip == stored
    ok, out = _verify()
    assert ok, out


@POSTGRES
@pytest.mark.django_db(transaction=True)
def test_it_verifies_cleanly_while_writers_keep_writing():
    from apps.core.selectors import audit_chain_problems

    _events(3)
    stop = threading.Event()

    def writer():
        try:
            while not stop.is_set():
                audit_record(actor="system:writer", verb="test.busy")
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        results = [audit_chain_problems(first_only=True) for _ in range(100)]
    finally:
        stop.set()
        thread.join()
    assert all(r == [] for r in results), [r for r in results if r][:1]
    assert AuditEvent.objects.count() > 3 + 20  # the writer really wrote meanwhile
