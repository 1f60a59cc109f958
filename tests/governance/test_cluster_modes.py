"""A cluster's own safety mode on the Safety page: stricter than the global mode from the
page, never looser (the stricter applies), loosening only by an admin, audited with a reason."""

import pytest
from django.test import Client

from apps.clusters.services import cluster_create
from apps.core.models import AuditEvent
from apps.core.services import safety_mode_set
from apps.governance.actions import effective_mode

pytestmark = pytest.mark.django_db


@pytest.fixture
def prod(adam):
    return cluster_create(
        actor=adam, name="prod", connection="kubeconfig", kubeconfig_path="/tmp/prod"
    )


def as_(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_an_operator_halts_one_cluster_and_only_that_cluster(prod, adam, olivia):
    other = cluster_create(
        actor=adam, name="staging", connection="kubeconfig", kubeconfig_path="/tmp/staging"
    )
    safety_mode_set(actor=adam, mode="autonomous", reason="calm day")
    page = as_(olivia).get("/safety/").content.decode()
    assert 'data-testid="cluster-mode-prod"' in page and "follows the global mode" in page
    r = as_(olivia).post(
        "/clusters/prod/safety", {"mode": "halted", "reason": "bad deploy", "expires_in": "60"}
    )
    assert r.status_code == 302 and r["Location"] == "/safety/"
    assert effective_mode(prod) == "halted" and effective_mode(other) == "autonomous"
    event = AuditEvent.objects.get(verb="safety.mode_changed", target_id=f"cluster:{prod.pk}")
    assert event.actor == "olivia" and event.reason == "bad deploy"
    page = as_(olivia).get("/safety/").content.decode()
    assert 'data-testid="effective-prod">halted' in page and "then autonomous" in page
    assert 'data-testid="halted-prod"' in page  # the banner on every page says so too
    assert 'data-testid="effective-staging">autonomous' in page


def test_a_cluster_is_never_looser_and_loosening_it_needs_an_admin(prod, adam, olivia):
    safety_mode_set(actor=adam, mode="supervised", reason="default")
    # Its own autonomous does not loosen the global supervised: the stricter applies.
    assert as_(adam).post("/clusters/prod/safety", {"mode": "autonomous", "reason": "x"})
    assert effective_mode(prod) == "supervised"
    operator = as_(olivia)
    operator.post("/clusters/prod/safety", {"mode": "dry_run", "reason": "rehearse"})
    assert effective_mode(prod) == "dry_run"
    page = operator.get("/safety/").content.decode()
    row = page[page.index('data-testid="cluster-mode-form-prod"') :][:2500]
    assert 'value="halted"' in row and 'value="autonomous"' not in row  # only stricter
    r = operator.post("/clusters/prod/safety", {"mode": "autonomous", "reason": "done"})
    assert effective_mode(prod) == "dry_run"  # refused: an operator may not loosen
    page = operator.get(r["Location"]).content.decode()
    assert "prod: " in page and "manage_safety" in page
    as_(adam).post("/clusters/prod/safety", {"mode": "autonomous", "reason": "done"})
    assert effective_mode(prod) == "supervised"  # back to following the global mode


def test_viewers_see_the_modes_but_no_form_and_bad_input_says_what(prod, vic, olivia):
    page = as_(vic).get("/safety/").content.decode()
    assert 'data-testid="cluster-mode-prod"' in page
    assert 'data-testid="cluster-mode-form-prod"' not in page
    assert (
        as_(vic).post("/clusters/prod/safety", {"mode": "halted", "reason": "x"}).status_code == 403
    )
    r = as_(olivia).post("/clusters/prod/safety", {"mode": "panic", "reason": ""}, follow=True)
    text = r.content.decode()
    assert "prod: mode:" in text and "reason:" in text
    assert not AuditEvent.objects.filter(target_id=f"cluster:{prod.pk}").exists()
    assert (
        as_(olivia).post("/clusters/nope/safety", {"mode": "halted", "reason": "x"}).status_code
        == 404
    )
