"""The audit log anchored outside the database (issue 18, defect 5): whoever can write the
database can recompute the chain with the project's own code, but not the signed checkpoints
written where the database's writers cannot reach. Rewriting, truncating or emptying the log
is found; so is a forged checkpoint."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.core import anchor, chain, tasks
from apps.core.models import AuditChainHead, AuditCheckpoint, AuditEvent
from apps.core.services import audit_anchor_check, audit_checkpoint_write, audit_record
from apps.core.sinks import SinkError, parse_sinks
from tests.support.audit import tamper

pytestmark = pytest.mark.django_db
KEY = "test-audit-key-" + "k" * 40


@pytest.fixture
def sink(settings, tmp_path):
    path = tmp_path / "checkpoints.jsonl"
    settings.AUDIT_KEY = KEY
    settings.AUDIT_CHECKPOINT_SINKS = f"file://{path}"
    return path


def _events(n: int, start: int = 0) -> list[AuditEvent]:
    return [
        audit_record(actor="system:test", verb="test.event", target_id=str(i), reason=f"r{i}")
        for i in range(start, start + n)
    ]


def _verify() -> tuple[bool, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", "--all", stdout=out, stderr=err)
    except CommandError as exc:
        return False, f"{err.getvalue()} {exc}"
    return True, out.getvalue()


def _rechain_from(seq: int) -> None:
    """What an attacker with SQL access and this project's code does after editing a row:
    recompute every hash from that row on, and move the head, so the chain verifies."""
    rows = list(AuditEvent.objects.filter(seq__gte=seq).order_by("seq"))
    prev = AuditEvent.objects.filter(seq=seq - 1).values_list("hash", flat=True).first()
    prev = prev or chain.GENESIS
    for row in rows:
        row.refresh_from_db()
        digest = chain.row_hash(prev, row.chain_fields())
        tamper(
            "UPDATE governance_auditevent SET prev_hash = %s, hash = %s WHERE id = %s",
            [prev, digest, row.pk],
        )
        prev = digest
    AuditChainHead.objects.filter(pk=1).update(seq=rows[-1].seq, hash=prev)


def test_an_intact_log_verifies_and_says_how_far_it_is_anchored(sink, client, vic):
    _events(3)
    first = audit_checkpoint_write()
    client.force_login(vic)
    page = client.get("/audit/").content.decode()
    assert "Last checkpoint: event #3" in page and "delivered to every sink" in page
    _events(2, start=3)
    ok, out = _verify()
    assert ok, out
    assert "5 events" in out and "newest at seq 3" in out and "2 newer events" in out
    line = json.loads(sink.read_text().splitlines()[0])
    assert (line["seq"], line["hash"]) == (3, first.hash) and line["signature"]
    assert audit_checkpoint_write() is not None  # the head moved
    assert audit_checkpoint_write() is None  # it did not


def test_a_rewritten_and_rechained_log_is_found(sink):
    """The issue's attack: edit a row, recompute every later hash and the head with the
    project's own chain code. The chain alone says intact; the checkpoint does not."""
    events = _events(5)
    audit_checkpoint_write()
    tamper("UPDATE governance_auditevent SET reason = %s WHERE id = %s", ["innocent", events[1].pk])
    _rechain_from(2)
    report = audit_anchor_check()
    assert any("does not match row seq 5" in p and "rewritten" in p for p in report.problems)
    ok, out = _verify()
    assert not ok and "does not match its checkpoints" in out


def test_removing_the_last_rows_and_moving_the_head_is_found(sink):
    events = _events(5)
    audit_checkpoint_write()
    for ev in events[3:]:
        tamper("DELETE FROM governance_auditevent WHERE id = %s", [ev.pk])
    AuditChainHead.objects.filter(pk=1).update(seq=3, hash=events[2].hash)
    ok, out = _verify()
    assert not ok and "chain has only 3 rows" in out


def test_emptying_the_table_and_the_head_is_found(sink):
    _events(4)
    audit_checkpoint_write()
    tamper("DELETE FROM governance_auditevent", [])
    AuditChainHead.objects.all().delete()
    AuditCheckpoint.objects.all().delete()
    ok, out = _verify()
    assert not ok and "chain has only 0 rows" in out and "emptied" in out


def test_a_forged_checkpoint_is_found(sink):
    """Without the key an attacker cannot write a checkpoint that matches a rewritten log."""
    _events(3)
    audit_checkpoint_write()
    forged = anchor.sign(b"not-the-key", seq=3, head_hash="a" * 64, at="2026-12-06T00:00:00+00:00")
    with sink.open("a") as f:
        f.write(forged.line() + "\n")
    ok, out = _verify()
    assert not ok and "signature does not verify" in out


def test_the_checkpoint_file_going_missing_is_found(sink):
    _events(2)
    audit_checkpoint_write()
    sink.unlink()
    ok, out = _verify()
    assert not ok and "is gone" in out


def test_checkpoints_go_to_a_syslog_and_an_http_sink_too(settings, sink):
    received: list[bytes] = []
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(5)

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    http = HTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=http.handle_request, daemon=True).start()
    settings.AUDIT_CHECKPOINT_SINKS = (
        f"file://{sink},syslog://127.0.0.1:{udp.getsockname()[1]},"
        f"http://127.0.0.1:{http.server_address[1]}/checkpoints"
    )
    try:
        _events(2)
        cp = tasks.audit_checkpoint()
        syslog_line = udp.recv(4096).decode()
    finally:
        udp.close()
        http.server_close()
    assert cp == 2
    assert syslog_line.startswith("<37>1 ") and "audit-checkpoint" in syslog_line
    assert json.loads(received[0])["seq"] == 2
    assert json.loads(syslog_line.split("audit-checkpoint - ", 1)[1])["seq"] == 2
    assert AuditCheckpoint.objects.get().failed == []


def test_a_sink_that_refuses_is_recorded_and_the_others_still_get_it(settings, sink):
    settings.AUDIT_CHECKPOINT_SINKS = f"file://{sink},http://127.0.0.1:9/down"
    _events(1)
    row = audit_checkpoint_write()
    assert len(row.failed) == 1 and "127.0.0.1:9" in row.failed[0]
    assert sink.exists()
    assert audit_checkpoint_write() is not None  # retried with the next one


@pytest.mark.parametrize("bad", ["ftp://x/y", "file://relative", "https://", "syslog+tcp://"])
def test_a_bad_sink_is_refused_naming_it(bad):
    with pytest.raises(SinkError, match="audit checkpoint sink"):
        parse_sinks(bad)
