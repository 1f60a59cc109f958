"""One time convention: wall-clock times in the viewer's zone (their choice on the Account
page, else the browser's, else the server's); a cluster's own clock where it differs from
wall time (the sandbox), shown as it is and labelled."""

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import pytest
from django.template import Context, Template
from django.test import Client
from django.utils import timezone

from apps.clusters.models import Cluster
from apps.core.clock import chart_json
from apps.core.models import ApiToken, AuditEvent, Preference
from apps.core.services import audit_record
from apps.core.timezones import COOKIE

pytestmark = pytest.mark.django_db
AT = datetime(2026, 7, 1, 12, 30, 5, tzinfo=UTC)  # 14:30:05 in Paris (summer time)


def _as(user, zone: str = "") -> Client:
    c = Client()
    c.force_login(user)
    if zone:
        c.cookies[COOKIE] = zone
    return c


def test_it_shows_wall_time_in_the_browsers_zone_and_says_which(vic):
    event = audit_record(actor="system:test", verb="test.event", target_type="t", target_id="1")
    paris = timezone.localtime(event.created_at, ZoneInfo("Europe/Paris"))
    page = _as(vic, "Europe/Paris").get("/audit/").content.decode()
    assert "Time (Europe/Paris)" in page and f"{paris:%Y-%m-%d %H:%M:%S}" in page
    utc = _as(vic).get("/audit/").content.decode()  # no cookie: the server's zone
    assert "Time (UTC)" in utc and f"{event.created_at:%Y-%m-%d %H:%M:%S}" in utc
    bogus = _as(vic, "Mars/Olympus").get("/audit/").content.decode()
    assert "Time (UTC)" in bogus
    escaped = _as(vic, "America%2FNew_York").get("/audit/").content.decode()
    assert "Time (America/New_York)" in escaped
    ApiToken.objects.create(user=vic, name="ci", prefix="zt_x", digest="d" * 64, created_at=AT)
    account = _as(vic, "Europe/Paris").get("/account/").content.decode()
    assert "2026-07-01 14:30" in account


def test_a_chosen_zone_wins_over_the_browsers_and_is_audited(vic):
    c = _as(vic, "Europe/Paris")
    r = c.post("/account/time-zone", {"time_zone": "America/New_York"})
    assert r.status_code == 302
    assert Preference.objects.get(user=vic).time_zone == "America/New_York"
    event = AuditEvent.objects.get(verb="account.time_zone")
    assert (event.before, event.after) == (
        {"time_zone": "browser"},
        {"time_zone": "America/New_York"},
    )
    page = c.get("/account/").content.decode()
    assert 'data-testid="viewer-zone">America/New_York<' in page
    # Back to the browser's: "" follows the cookie again.
    assert c.post("/account/time-zone", {"time_zone": ""}).status_code == 302
    assert 'data-testid="viewer-zone">Europe/Paris<' in c.get("/account/").content.decode()


def test_a_zone_that_does_not_exist_is_refused_by_name_and_nothing_is_written(vic):
    r = _as(vic).post("/account/time-zone", {"time_zone": "Mars/Olympus"})
    assert r.status_code == 400
    assert "time_zone" in r.content.decode() and "Mars/Olympus" in r.content.decode()
    assert not Preference.objects.exists()
    assert not AuditEvent.objects.filter(verb="account.time_zone").exists()


def _clock(cluster: Cluster) -> str:
    template = Template('{% load format %}{% clock at cluster "H:i:s" %}')
    return template.render(Context({"at": AT, "cluster": cluster}))


def test_a_real_clusters_times_are_wall_time_the_sandboxs_its_own_clock_labelled():
    real = Cluster(name="prod", connection=Cluster.Connection.KUBECONFIG)
    sandbox = Cluster(name="sandbox", connection=Cluster.Connection.SANDBOX)
    with timezone.override("Europe/Paris"):
        assert ">14:30:05</time>" in _clock(real) and "sandbox clock" not in _clock(real)
        shown = _clock(sandbox)
        assert ">12:30:05</time>" in shown and "sandbox clock" in shown


def test_charts_draw_wall_time_in_the_viewers_zone_and_name_the_clock():
    def fig():
        return go.Figure(go.Scatter(x=[AT, AT.replace(minute=45)], y=[1, 2]))

    real = Cluster(name="prod", connection=Cluster.Connection.KUBECONFIG)
    sandbox = Cluster(name="sandbox", connection=Cluster.Connection.SANDBOX)
    with timezone.override("Europe/Paris"):
        wall = chart_json(fig(), real)
        own = chart_json(fig(), sandbox)
    assert json.loads(wall)["data"][0]["x"] == ["2026-07-01T14:30:05", "2026-07-01T14:45:05"]
    assert json.loads(wall)["layout"]["xaxis"]["title"]["text"] == "time (Europe/Paris)"
    assert "12:30:05" in own and "14:30:05" not in own
    assert json.loads(own)["layout"]["xaxis"]["title"]["text"] == "sandbox clock (UTC)"
