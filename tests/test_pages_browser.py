"""Every page as every role, on a laptop (1440x900) and a phone (390x844), in Chromium under the
CSP, with data on them: a leaking sandbox collected, scored and healed (an incident whose fix
waits for approval), a chaos run waiting for its approval, a saved experiment, a GameDay and an
hour of costs. Each page must answer without a server error, scroll only vertically, log no
console error, and pass axe-core (bundled by axe-playwright-python, run only here, never served
to users) with no serious or critical violation. The shown pages' screenshots at both sizes
land in SHOTS/pages (docs/screenshots/pages with `make screenshots`).

Then two tasks, counted in clicks from the Overview: an approver approves the waiting fix in at
most 3, and anyone finds why the riskiest workload is at risk in at most 2."""

from pathlib import Path

import axe_playwright_python
import pytest
from django.test import Client
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from apps.chaos.models import Experiment, GameDay, Run
from apps.clusters.labels import CHAOS_OPT_IN
from apps.core.services import safety_mode_set
from apps.costs import rollups
from apps.governance.action_models import Action, Status
from apps.healing.models import Incident
from apps.healing.services import heal_cycle
from apps.predictions import services
from apps.predictions.models import RiskScore
from tests.support.browser import SHOTS, browser_login
from tests.support.sandbox import collect_through, sandbox_cluster, start_sandbox

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
ROLES = ("vic", "olivia", "alice", "adam")  # viewer, operator, approver, admin
SERIOUS = ("serious", "critical")
# The pages whose screenshots (as the admin, at both sizes) docs/dashboard.md shows.
SHOWN = ("overview", "approvals", "incident", "predictions", "cost-plan", "safety", "chaos")
CHAOS = {
    "cluster": "sandbox",
    "namespace": "shop",
    "target": "web",
    "fault": "pod-kill",
    "duration_seconds": "300",
    "mode": "one",
    "value": "",
    "parameters": "{}",
    "probes": '[{"kind": "availability", "min_percent": 50}]',
    "grace_seconds": "20",
    "reason": "page suite",
}


@pytest.fixture
def seeded(tmp_path, base_model, olivia, adam):
    """A sandbox with a memory leak, collected for 20 minutes, scored, its anomalies fitted and
    a healing cycle run; a chaos run, a saved experiment and a GameDay; an hour of costs."""
    server = start_sandbox(tmp_path, "memory-leak")
    cluster = sandbox_cluster(server)
    collect_through(server, cluster, 9, step=15)
    services.anomaly_fit(cluster=cluster)
    collect_through(server, cluster, 12)
    services.cluster_score(cluster=cluster)
    heal_cycle(cluster=cluster)
    rollups.rollup_cluster(cluster)
    config = k8s_config.new_client_from_config(str(server.kubeconfig))
    k8s.CoreV1Api(config).patch_namespace(
        "shop", {"metadata": {"annotations": {CHAOS_OPT_IN: "true"}}}
    )
    operator = Client()
    operator.force_login(olivia)
    assert operator.post("/chaos/start", CHAOS).status_code == 302
    saved = {**CHAOS, "name": "weekday pod kill", "schedule": "0 10 * * 1-5"}
    assert operator.post("/chaos/save", saved).status_code == 302
    experiment = Experiment.objects.get(one_off=False)
    day = {"name": "Tuesday drill", "experiments": [str(experiment.pk)]}
    assert operator.post("/chaos/gameday/new", day).status_code in (200, 302)
    yield server, cluster
    server.stop()


def _pages(cluster) -> dict[str, str]:
    incident = Incident.objects.filter(cluster=cluster).order_by("-pk").first()
    action = Action.objects.filter(cluster=cluster).order_by("-pk").first()
    node = cluster.nodes.order_by("name").first()
    pages = {
        "overview": "/",
        "clusters": "/clusters/",
        "cluster": f"/clusters/{cluster.name}/",
        "cluster-new": "/clusters/new",
        "cluster-edit": f"/clusters/{cluster.name}/edit",
        "predictions": "/predictions/",
        "workload": f"/predictions/{cluster.name}/workload/shop/api/",
        "node": f"/predictions/{cluster.name}/node/{node.name}/",
        "anomalies": "/predictions/anomalies/",
        "models": "/predictions/models/",
        "healing": "/healing/",
        "incident": f"/healing/{incident.pk}/",
        "runbooks": "/healing/runbooks/",
        "chaos": "/chaos/",
        "chaos-run": f"/chaos/run/{Run.objects.get().pk}/",
        "gameday": f"/chaos/gameday/{GameDay.objects.get().pk}/",
        "costs": "/costs/",
        "cost-plan": "/costs/plan/",
        "waste": "/costs/waste/",
        "forecast": "/costs/forecast/",
        "prices": "/costs/prices/",
        "approvals": "/approvals/",
        "action": f"/actions/{action.pk}/",
        "propose": "/actions/new",
        "policy": "/policy/",
        "safety": "/safety/",
        "audit": "/audit/",
        "account": "/account/",
        "api-docs": "/api/docs",
    }
    return pages


# axe-core as axe-playwright-python bundles it, loaded into every page of a context before
# the page's own scripts; only violations are collected (passes are most of the work).
AXE_JS = Path(axe_playwright_python.__file__).with_name("axe.min.js")
_AXE = "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"


def _check(page, url: str) -> list[str]:
    """What is wrong with the page at `url`: a server error, sideways scroll, console errors,
    serious or critical axe violations."""
    page.console_errors.clear()
    response = page.goto(url)
    page.wait_for_function(_DRAWN)  # its charts drawn: they set the page's final width
    problems = []
    if response is None or response.status >= 500 or response.status == 404:
        problems.append(f"answered {response.status if response else 'nothing'}")
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if wide > 1:
        culprit = page.evaluate(_WIDEST)
        problems.append(f"scrolls sideways by {wide}px (widest: {culprit})")
    # A page the role may not open answers with the styled 403 page; the browser logs that
    # status as a console error of its own, which is the only one allowed there.
    refused = response is not None and response.status == 403
    problems += [
        f"console: {e}" for e in page.console_errors if not (refused and "status of 403" in e)
    ]
    violations = page.evaluate(_AXE)
    for v in violations:
        if v["impact"] in SERIOUS:
            node = v["nodes"][0]
            why = "; ".join(c["message"] for c in node["any"] + node["all"])[:300]
            problems.append(
                f"axe {v['impact']} {v['id']} on {len(v['nodes'])} element(s), first "
                f"{node['target'][0]}: {why}"
            )
    return problems


_DRAWN = """() => [...document.querySelectorAll('[data-chart]')]
  .every(el => el.querySelector('.main-svg'))
  && (!document.getElementById('swagger-ui') || document.querySelector('.swagger-ui .models'))"""

# The element that sticks out furthest to the right (not counting those inside a box that
# scrolls or clips), to name in a failure.
_WIDEST = """() => {
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== 'visible') return true;
    }
    return false;
  };
  let worst = null, right = window.innerWidth;
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect().right;
    if (r > right + 1 && !clipped(el)) { right = r; worst = el; }
  }
  if (!worst) return 'none';
  const id = worst.id ? '#' + worst.id : '';
  const cls = worst.className && typeof worst.className === 'string'
    ? '.' + worst.className.trim().split(/\\s+/).join('.') : '';
  return worst.tagName.toLowerCase() + id + cls + ' to ' + Math.round(right) + 'px';
}"""


def _browsing(browser, live_server, role: str, size: str):
    """A page of a new context at `size` with axe-core loaded, logged in as `role`, that
    collects its console errors."""
    width, height = SIZES[size]
    # A browser in Paris: its pages show wall time there (app.js reports the zone).
    context = browser.new_context(
        viewport={"width": width, "height": height}, timezone_id="Europe/Paris"
    )
    context.add_init_script(path=AXE_JS)
    page = context.new_page()
    page.console_errors = []
    page.on(
        "console",
        lambda m, p=page: p.console_errors.append(m.text) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e, p=page: p.console_errors.append(str(e)))
    browser_login(page, live_server, role)
    return page


@pytest.mark.parametrize("size", SIZES)  # two tests, so two workers can share them
def test_every_page_as_every_role(browser, live_server, seeded, vic, alice, adam, size):
    _, cluster = seeded
    pages = _pages(cluster)
    problems = []
    SHOTS.joinpath("pages").mkdir(parents=True, exist_ok=True)
    for role in ROLES:
        page = _browsing(browser, live_server, role, size)
        for name, path in pages.items():
            problems += [
                f"{name} ({path}) as {role} on a {size}: {p}"
                for p in _check(page, live_server.url + path)
            ]
            if role == "adam" and name in SHOWN:
                page.screenshot(path=str(SHOTS / "pages" / f"{name}-{size}.png"), full_page=True)
        page.context.close()
    page = _browsing(browser, live_server, "vic", size)
    page.goto(live_server.url + "/audit/")
    assert "Time (Europe/Paris)" in page.locator("thead").first.inner_text()
    page.context.close()
    # The red and yellow banners of the stricter modes hold their contrast too.
    for mode in ("dry_run", "halted"):
        safety_mode_set(actor=adam, mode=mode, reason="the banner's contrast")
        page = _browsing(browser, live_server, "vic", size)
        assert page.locator(f".banner-{mode}").count() == 1
        problems += [f"overview in {mode} on a {size}: {p}" for p in _check(page, live_server.url)]
        page.context.close()
    assert problems == [], "\n".join(problems)


def test_from_the_overview_two_tasks_take_few_clicks_and_work_by_keyboard(
    page, live_server, seeded, vic, alice
):
    """Anyone finds why the riskiest workload is at risk in at most 2 clicks; an approver
    approves the waiting fix in at most 3, and can reach Approve with Tab alone, its focus
    visible."""
    _, cluster = seeded
    riskiest = (
        RiskScore.objects.filter(cluster=cluster, risk__isnull=False)
        .order_by("-scored_at", "-risk")
        .first()
    )
    browser_login(page, live_server, "vic")
    clicks = 0
    page.get_by_test_id("top-risk").first.click()
    clicks += 1
    reasons = page.get_by_test_id("risk-reasons").inner_text()
    assert riskiest.name in page.locator("h1").inner_text()
    assert riskiest.reasons and riskiest.reasons[0] in reasons
    assert clicks <= 2

    page.context.clear_cookies()
    browser_login(page, live_server, "alice")
    waiting = Action.objects.get(cluster=cluster, status=Status.PROPOSED, source="healing")
    clicks = 0
    page.get_by_test_id("pending-approvals").get_by_role("link", name=f"#{waiting.pk} ").click()
    clicks += 1
    page.wait_for_url(f"**/actions/{waiting.pk}/")
    # The keyboard: from the top of the page, Tab reaches Approve, and shows where it is.
    page.locator("body").focus()
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.testid") == "approve":
            break
    else:
        raise AssertionError("Tab never reached Approve")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), outline
    page.get_by_test_id("approve").click()
    clicks += 1
    page.wait_for_url(f"**/actions/{waiting.pk}/")
    waiting.refresh_from_db()
    assert waiting.approvals.filter(approver_user=alice, decision="approve").exists()
    assert clicks <= 3
