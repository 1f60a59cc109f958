"""The prices page: every reader sees each cluster's prices with their units and monthly
equivalents; admins edit, load a CSV and reset, each with a reason; bad input is shown row by
row and changes nothing; nobody else may POST."""

import html
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.clusters.services import cluster_create
from apps.core.models import AuditEvent
from apps.costs import prices
from apps.costs.models import PriceSheet
from apps.costs.selectors import prices_for_cluster
from apps.costs.services import price_sheet_load_csv
from tests.support.users import login

from .test_prices import GOOD, HEADER

URL = "/costs/prices/"


# Its own `cluster`, unlike the shared one: a kubeconfig cluster `prod` no test reaches.
@pytest.fixture
def cluster(db):
    return cluster_create(
        actor="system:test", name="prod", connection="kubeconfig", kubeconfig_path="/tmp/x"
    )


def _body(response) -> str:
    return html.unescape(response.content.decode())


def _price_events():
    return AuditEvent.objects.filter(verb__startswith="prices.")


def _edit(**change) -> dict:
    data = {
        "action": "edit",
        "cluster": "prod",
        "capacity_type": "on_demand",
        "cpu_per_vcpu_hour": "0.035",
        "memory_per_gib_hour": "0.0045",
        "storage_per_gib_month": "0.11",
        "reason": "renegotiated",
    }
    return {**data, **change}


def test_it_shows_units_monthly_equivalents_and_the_source_to_a_viewer(client, vic, cluster):
    response = login(client, vic).get(URL)
    assert response.status_code == 200
    body = _body(response)
    for header in ("$ per vCPU-hour", "$ per GiB-hour (memory)", "$ per GiB-month (storage)"):
        assert header in body
    assert "= $ per vCPU-month (\u00d7 730 h)" in body and "A month is 730 hours" in body
    row = body.split('data-testid="row-prod-1"')[1].split("</tr>")[0]
    # 0.031611 x 730 = 23.08 a vCPU-month; 0.004237 x 730 = 3.09 a GiB-month
    assert "0.031611" in row and "23.08" in row
    assert "0.004237" in row and "3.09" in row and "0.10" in row
    assert "cloud.google.com/gke-spot=true" in body and "0.01034" in body
    assert prices.DEFAULT_SOURCE in body and "cloud.google.com/compute/vm-instance-pricing" in body
    assert 'data-testid="edit-prod"' not in body and 'data-testid="upload-prod"' not in body


def test_it_links_the_prices_from_the_costs_page(client, vic):
    assert URL in login(client, vic).get("/costs/").content.decode()


def test_it_gives_an_admin_the_forms_filled_with_the_current_prices(client, adam, cluster):
    body = _body(login(client, adam).get(URL))
    edit = body.split('data-testid="edit-prod"')[1].split("</form>")[0]
    assert 'value="0.031611"' in edit and 'name="reason"' in edit
    upload = body.split('data-testid="upload-prod"')[1].split("</form>")[0]
    assert 'enctype="multipart/form-data"' in body and HEADER in upload
    assert 'data-testid="reset-prod"' not in body  # already on the defaults


@pytest.mark.parametrize("persona", ["vic", "olivia", "alice"])
@pytest.mark.parametrize(
    "data",
    [
        _edit(),
        {"action": "upload", "cluster": "prod", "csv_text": GOOD, "reason": "x"},
        {"action": "reset", "cluster": "prod", "reason": "x"},
    ],
)
def test_it_refuses_a_post_from_anyone_but_an_admin(client, cluster, adam, persona, data, request):
    price_sheet_load_csv(actor=adam, cluster=cluster, text=GOOD, reason="first")
    before, events = prices_for_cluster(cluster), _price_events().count()
    response = login(client, request.getfixturevalue(persona)).post(URL, data)
    assert response.status_code == 403
    assert prices_for_cluster(cluster) == before and _price_events().count() == events


def test_it_saves_an_admin_edit_of_the_default_row_and_audits_it(client, adam, cluster):
    response = login(client, adam).post(URL, _edit())
    assert response.status_code == 302 and response["Location"] == f"{URL}#prices-prod"
    sheet = prices_for_cluster(cluster)
    assert sheet.default.prices == prices.Prices(
        Decimal("0.035"), Decimal("0.0045"), Decimal("0.11")
    )
    assert sheet.rows[1:] == prices.DEFAULT_SHEET.rows[1:]  # the spot rows stay
    assert sheet.source.startswith("default row edited by adam; other rows from defaults:")
    event = _price_events().get()
    assert event.verb == "prices.changed" and event.reason == "renegotiated"
    assert event.before["rows"][0]["cpu_per_vcpu_hour"] == "0.031611"
    assert event.after["rows"][0]["cpu_per_vcpu_hour"] == "0.035"
    page = _body(client.get(URL))
    assert "prod: Default prices saved." in page and "25.55" in page  # 0.035 x 730


@pytest.mark.parametrize("reason", ["", "   "])
def test_it_refuses_an_admin_edit_with_a_blank_reason(client, adam, cluster, reason):
    response = login(client, adam).post(URL, _edit(reason=reason))
    assert response.status_code == 400
    body = _body(response)
    assert "The prices of prod were not changed: Reason: This field is required." in body
    assert not PriceSheet.objects.exists() and not _price_events().exists()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("cpu_per_vcpu_hour", "0", "0 is not more than 0"),
        ("memory_per_gib_hour", "-0.004", "-0.004 is not more than 0"),
        ("cpu_per_vcpu_hour", "23.08", "a monthly price in the hourly column?"),
        ("storage_per_gib_month", "ten", "'ten' is not a number"),
    ],
)
def test_it_refuses_a_bad_price_in_the_edit_form(client, adam, cluster, field, value, words):
    response = login(client, adam).post(URL, _edit(**{field: value}))
    assert response.status_code == 400
    assert words in _body(response)
    assert not PriceSheet.objects.exists() and not _price_events().exists()


def test_it_loads_a_csv_file_upload(client, adam, cluster):
    upload = SimpleUploadedFile("prices.csv", GOOD.encode(), content_type="text/csv")
    data = {"action": "upload", "cluster": "prod", "csv_text": "", "csv_file": upload}
    response = login(client, adam).post(URL, {**data, "reason": "finance sheet"})
    assert response.status_code == 302
    assert prices_for_cluster(cluster).source == "CSV upload by adam"
    assert _price_events().get().reason == "finance sheet"
    body = _body(client.get(URL))
    assert "prod: Price sheet loaded (3 rows)." in body and "pool=batch" in body


def test_it_shows_each_bad_row_by_line_and_column_and_changes_nothing(client, adam, cluster):
    price_sheet_load_csv(actor=adam, cluster=cluster, text=GOOD, reason="first")
    before, events = prices_for_cluster(cluster), _price_events().count()
    bad = f"{HEADER}\ndefault,,on_demand,23.08,0.004,0.1\nnode_label,a=b,spot,0,0.001,0.1\n"
    response = login(client, adam).post(
        URL, {"action": "upload", "cluster": "prod", "csv_text": bad, "reason": "oops"}
    )
    assert response.status_code == 400
    body = _body(response)
    errors = body.split('data-testid="row-errors-prod"')[1].split("</div>")[0]
    assert "Nothing was changed" in errors
    assert "line 2, cpu_per_vcpu_hour: 23.08 is more than 10 USD" in errors
    assert "a monthly price in the hourly column?" in errors
    assert "line 3, cpu_per_vcpu_hour: 0 is not more than 0" in errors
    assert "prod: The CSV price sheet was not loaded: 2 problems, listed below." in body
    assert "node_label,a=b,spot,0,0.001,0.1" in body  # the text stays to be fixed
    assert prices_for_cluster(cluster) == before and _price_events().count() == events


def test_it_resets_to_the_defaults_from_the_page(client, adam, cluster):
    price_sheet_load_csv(actor=adam, cluster=cluster, text=GOOD, reason="first")
    login(client, adam)
    assert 'data-testid="reset-prod"' in client.get(URL).content.decode()
    response = client.post(URL, {"action": "reset", "cluster": "prod", "reason": "list prices"})
    assert response.status_code == 302
    assert prices_for_cluster(cluster) == prices.DEFAULT_SHEET
    event = _price_events().latest("seq")
    assert event.verb == "prices.reset" and event.reason == "list prices"
    assert "prod: Prices reset to the defaults." in _body(client.get(URL))


def test_it_refuses_an_edit_of_prices_that_changed_meanwhile(client, adam, cluster):
    login(client, adam)
    page = client.get(URL).content.decode()
    base = page.split('name="base" value="')[1].split('"')[0]
    price_sheet_load_csv(actor=adam, cluster=cluster, text=GOOD, reason="someone else")
    response = client.post(URL, _edit(base=base))
    assert response.status_code == 409
    assert "changed while you edited" in _body(response)
    assert prices_for_cluster(cluster).source == "CSV upload by adam"


def test_it_404s_an_unknown_cluster(client, adam, cluster):
    assert login(client, adam).post(URL, _edit(cluster="nope")).status_code == 404
