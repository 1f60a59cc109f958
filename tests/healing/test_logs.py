"""Logs where SREs need them: the crash's own words in a diagnosis, lines kept with an
escalation that outlive the pod, and the latest lines fetched on request by a worker (web
never reads the cluster: in Kubernetes it has no token). Operators and up see lines; viewers
get a note."""

import pytest
from celery import current_app
from django.conf import settings
from django.db.models import F
from django.test import Client

from apps.core.models import AuditEvent
from apps.healing import services
from apps.healing.log_fetch import LOST, LOST_AFTER
from apps.healing.logs import EVIDENCE_PREFIX, error_line, masked
from apps.healing.models import Incident, LogExcerpt, Status
from apps.healing.tasks import logs_fetch
from tests.support.sandbox import collect_through
from tests.support.users import login
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
POLLING = 'hx-trigger="every 2s"'


def _queued() -> list[tuple[str, list]]:
    """(task, args) of every message in this run's `score` queue, taken off it: nothing runs
    them later (the test runs the task itself)."""
    out = []
    with current_app.connection_for_read() as conn:
        queue = conn.SimpleQueue(settings.CELERY_QUEUE_PREFIX + "score")
        try:
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    return out
                out.append((message.headers["task"], message.decode()[0]))
                message.ack()
        finally:
            queue.close()


def _fetch(client, incident, django_capture_on_commit_callbacks):
    """POST the fetch button as htmx, the transaction's callbacks run (the task is sent)."""
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(f"/healing/{incident.pk}/logs/fetch", headers=HX)


def test_a_crash_is_quoted_and_its_latest_lines_are_fetched_by_a_worker_not_by_web(
    scenario, olivia, alice, vic, django_capture_on_commit_callbacks
):
    server, cluster = scenario("bad-rollout")  # web's new image crashes from minute 15
    collect_through(server, cluster, 22)
    services.heal_cycle(cluster=cluster)
    incident = Incident.objects.get(cluster=cluster, name="web")
    assert incident.cause == "bad_rollout"
    (quote,) = [e for e in incident.evidence if e.startswith(EVIDENCE_PREFIX)]
    assert "ERROR startup failed: required environment variable" in quote
    _queued()  # whatever an earlier test left in this run's queue
    page, logs_url = f"/healing/{incident.pk}/", f"/healing/{incident.pk}/logs"
    html = login(Client(), olivia).get(page).content.decode()
    assert 'data-testid="logs-none"' in html and 'data-testid="logs-fetch"' in html
    assert 'hx-trigger="load"' not in html and POLLING not in html

    # A viewer may not ask: 403, nothing stored, nothing queued.
    viewer = login(Client(), vic)
    assert _fetch(viewer, incident, django_capture_on_commit_callbacks).status_code == 403
    assert not LogExcerpt.objects.exists() and _queued() == []

    # An operator asks: a pending row, its audit event, one task on the score queue.
    part = _fetch(login(Client(), olivia), incident, django_capture_on_commit_callbacks)
    html = part.content.decode()
    (row,) = LogExcerpt.objects.filter(incident=incident)
    assert row.fetching and row.requested_by == "olivia" and row.lines == []
    assert part.status_code == 200 and 'data-testid="logs-fetching"' in html and POLLING in html
    assert _queued() == [("healing.logs_fetch", [row.pk])]
    event = AuditEvent.objects.get(verb="incident.logs_requested")
    assert (event.actor, event.target_id) == ("olivia", str(incident.pk))

    # A second click while it is pending shows it and queues nothing.
    html = _fetch(login(Client(), alice), incident, django_capture_on_commit_callbacks)
    assert 'data-testid="logs-fetching"' in html.content.decode() and _queued() == []
    assert LogExcerpt.objects.count() == 1
    assert AuditEvent.objects.filter(verb="incident.logs_requested").count() == 1

    logs_fetch.apply(args=(row.pk,))  # the score worker's part, run here
    row.refresh_from_db()
    assert not row.fetching and row.previous and row.container == "web" and not row.error
    server.stop()  # from here on, nothing can read the cluster: the pages do not need to
    part = login(Client(), olivia).get(logs_url, headers=HX)
    html = part.content.decode()
    assert part.status_code == 200 and 'id="incident-logs"' in html and "<h1>" not in html
    assert POLLING not in html and 'data-testid="logs-fetching"' not in html  # done: no poll
    assert "fetched for olivia" in html and "its run before the last restart" in html
    assert "ERROR startup failed: required environment variable" in html
    assert 'data-testid="logs-error"' not in html and "could not be listed" not in html
    assert "ERROR startup failed" in login(Client(), olivia).get(page).content.decode()
    assert "<h1>" in login(Client(), olivia).get(logs_url).content.decode()  # without htmx

    html = viewer.get(page).content.decode()
    assert 'data-testid="logs-role-note"' in html and 'data-testid="kept-logs-note"' in html
    assert quote.split('"')[1] in html  # the quoted line is evidence: every role sees it
    assert "ERROR startup failed" not in html.replace(quote.split('"')[1], "")
    assert 'data-testid="logs-fetch"' not in html


def test_an_escalation_keeps_the_last_lines_after_the_pod_is_gone(
    scenario, alice, vic, django_capture_on_commit_callbacks
):
    server, cluster = scenario("failed-job")
    collect_through(server, cluster, 8)  # every pod of the Job failed; it gave up
    result = services.heal_cycle(cluster=cluster)
    incident = Incident.objects.get(cluster=cluster)
    assert incident.status == Status.ESCALATED and result.escalated == [incident.pk]
    (kept,) = LogExcerpt.objects.filter(incident=incident)
    assert kept.pod.startswith("nightly-export-") and kept.container == "nightly-export"
    assert "ERROR export: export failed" in kept.lines[-2] and not kept.error
    assert incident.timeline.filter(kind="logs").count() == 1

    server.stop()
    url = f"/healing/{incident.pk}/"
    response = login(Client(), alice).get(url)
    html = response.content.decode()
    assert response.status_code == 200 and "kept at escalation" in html
    assert 'data-testid="logs-lines"' in html and "ERROR export: export failed" in html
    html = login(Client(), vic).get(url).content.decode()
    assert 'data-testid="kept-logs-note"' in html and "ERROR export" not in html

    # A fetch now meets a cluster that is gone: the worker stores why, the page says it.
    _queued()
    _fetch(login(Client(), alice), incident, django_capture_on_commit_callbacks)
    ((_, (row_id,)),) = _queued()
    logs_fetch.apply(args=(row_id,))
    failed = LogExcerpt.objects.get(pk=row_id)
    assert not failed.fetching and failed.lines == [] and "could not be listed" in failed.error
    part = login(Client(), alice).get(f"{url}logs", headers=HX)
    html = part.content.decode()
    assert part.status_code == 200 and POLLING not in html
    assert 'data-testid="logs-error"' in html and "Not read: the pods could not be listed" in html
    # newest first: the failed fetch, then the lines kept at escalation
    assert html.index("logs-error") < html.index("ERROR export: export failed")

    # A fetch no worker takes is shown as lost once its time is up (the page stops polling)
    # and does not block the next request.
    _fetch(login(Client(), alice), incident, django_capture_on_commit_callbacks)
    ((_, (lost_id,)),) = _queued()
    LogExcerpt.objects.filter(pk=lost_id).update(created_at=F("created_at") - LOST_AFTER)
    html = login(Client(), alice).get(f"{url}logs", headers=HX).content.decode()
    assert POLLING not in html and "Not read: no worker read them within" in html
    _fetch(login(Client(), alice), incident, django_capture_on_commit_callbacks)
    ((_, (next_id,)),) = _queued()
    assert next_id != lost_id and LogExcerpt.objects.get(pk=lost_id).error == LOST
    assert not LogExcerpt.objects.get(pk=lost_id).fetching


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_fetch_runs_on_a_real_worker(scenario, celery_worker_process, olivia):
    server, cluster = scenario("failed-job")
    collect_through(server, cluster, 8)
    services.heal_cycle(cluster=cluster)
    incident = Incident.objects.get(cluster=cluster)
    client = login(Client(), olivia)
    assert client.post(f"/healing/{incident.pk}/logs/fetch").status_code == 302
    row = wait_for(
        lambda: (
            LogExcerpt.objects.filter(incident=incident, requested_by="olivia", fetching=False)
            .exclude(lines=[])
            .first()
        ),
        timeout=30,
        what="the worker to fetch the lines",
    )
    assert "ERROR export: export failed" in row.lines[-2] and not row.error
    html = client.get(f"/healing/{incident.pk}/logs", headers=HX).content.decode()
    assert "fetched for olivia" in html and POLLING not in html


def test_the_quoted_line_is_the_last_error_with_credentials_masked():
    lines = [
        "2026-01-05T09:00:00.000Z INFO  starting",
        "2026-01-05T09:00:01.000Z ERROR connect postgres://app:hunter2@db:5432 password=abc",
        "2026-01-05T09:00:01.000Z INFO  retrying",
    ]
    line = error_line(lines)
    assert line == lines[1]
    assert masked(line).endswith("ERROR connect postgres://app:***@db:5432 password=***")
    for raw, shown in (
        ("Authorization: Bearer eyJhbGciOi.x-y_z", "Authorization: ***"),
        ("calling api with bearer abc.def-123 now", "calling api with bearer *** now"),
        (
            '{"user": "app", "password": "hunter2", "db": 1}',
            '{"user": "app", "password": "***", "db": 1}',
        ),
        ("DB_PASSWORD=s3cr3t APP=shop", "DB_PASSWORD=*** APP=shop"),
        ("api_key: 'k-123' next", "api_key: '***' next"),
        ("key AKIAABCDEFGHIJKLMNOP used", "key *** used"),
        ("-----BEGIN RSA PRIVATE KEY-----MIIEow", "-----BEGIN RSA PRIVATE KEY-----***"),
        ("GET /orders?id=7 200 12ms", "GET /orders?id=7 200 12ms"),  # nothing secret: unchanged
    ):
        assert masked(raw) == shown, raw
    assert error_line(lines[::2]) == ""
    fatal = "2026-01-05T09:00:02.000Z FATAL exiting with code 1"
    assert error_line([*lines, fatal]) == lines[1] and error_line([fatal]) == fatal
