"""Prices: the pure sheet (units, CSV, node matching) and the audited services that replace a
cluster's sheet whole or refuse it whole."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from apps.clusters.services import cluster_create
from apps.core.errors import Conflict, RoleRequired, ValidationFailed
from apps.core.models import AuditEvent
from apps.costs import prices
from apps.costs.models import PriceRow, PriceSheet
from apps.costs.selectors import prices_for_cluster
from apps.costs.services import (
    PriceSheetInvalid,
    price_sheet_load_csv,
    price_sheet_reset,
    price_sheet_set,
)

HEADER = "kind,selector,capacity_type,cpu_per_vcpu_hour,memory_per_gib_hour,storage_per_gib_month"
GOOD = f"""{HEADER}
default,,on_demand,0.04,0.005,0.12
node_label,cloud.google.com/gke-spot=true,spot,0.012,0.0016,0.12
# a comment, then a blank line

node_label,pool=batch,spot,0.011,0.0015,0.08
"""


# Its own `cluster`, unlike the shared one: a kubeconfig cluster `prod` no test reaches.
@pytest.fixture
def cluster(db):
    return cluster_create(
        actor="system:test", name="prod", connection="kubeconfig", kubeconfig_path="/tmp/x"
    )


def _price_events():
    return AuditEvent.objects.filter(verb__startswith="prices.")


# --- pure -----------------------------------------------------------------------------------


def test_it_names_every_price_with_its_unit_and_converts_with_730_hours():
    p = prices.DEFAULT_ON_DEMAND
    assert prices.HOURS_PER_MONTH == 730
    assert p.cpu_per_vcpu_hour == Decimal("0.031611")
    assert p.cpu_per_vcpu_month == Decimal("23.07603")
    assert p.memory_per_gib_month == prices.monthly(Decimal("0.004237")) == Decimal("3.09301")
    assert prices.hourly(Decimal("73")) == Decimal("0.1")
    assert p.storage_per_gib_month == Decimal("0.10") and p.currency == "USD"


def test_it_parses_a_good_sheet_and_skips_comments_and_blank_lines():
    sheet = prices.parse_price_sheet(GOOD)
    assert isinstance(sheet, prices.PriceSheet)
    assert [r.selector for r in sheet.rows] == ["", "cloud.google.com/gke-spot=true", "pool=batch"]
    assert sheet.default.prices.cpu_per_vcpu_hour == Decimal("0.04")
    assert sheet.rows[2].capacity_type == prices.CapacityType.SPOT


def test_it_round_trips_the_defaults_through_csv():
    again = prices.parse_price_sheet(prices.to_csv(prices.DEFAULT_SHEET))
    assert again.rows == prices.DEFAULT_SHEET.rows


def test_it_prices_a_labelled_node_at_spot_and_any_other_at_the_default():
    sheet = prices.DEFAULT_SHEET
    spot = {"cloud.google.com/gke-spot": "true", "kubernetes.io/os": "linux"}
    assert prices.price_for_node(spot, sheet) == prices.DEFAULT_SPOT
    assert prices.price_for_node({"cloud.google.com/gke-spot": "false"}, sheet) == (
        prices.DEFAULT_ON_DEMAND
    )
    assert prices.price_for_node({}, sheet) == prices.DEFAULT_ON_DEMAND


def test_it_takes_the_first_matching_row():
    sheet = prices.parse_price_sheet(GOOD)
    node = {"pool": "batch", "cloud.google.com/gke-spot": "true"}
    assert prices.price_for_node(node, sheet).cpu_per_vcpu_hour == Decimal("0.012")


BAD = [
    # (sheet body after the header, line, column, words in the message)
    ("default,,on_demand,0,0.005,0.1", 2, "cpu_per_vcpu_hour", "not more than 0"),
    ("default,,on_demand,0.03,-0.004,0.1", 2, "memory_per_gib_hour", "not more than 0"),
    ("default,,on_demand,0.03,0.004,abc", 2, "storage_per_gib_month", "'abc' is not a number"),
    ("default,,on_demand,$0.03,0.004,0.1", 2, "cpu_per_vcpu_hour", "without a currency sign"),
    ("default,,on_demand,NaN,0.004,0.1", 2, "cpu_per_vcpu_hour", "not a finite number"),
    ("default,,on_demand,0.03,inf,0.1", 2, "memory_per_gib_hour", "not a finite number"),
    ("default,,on_demand,23.08,0.004,0.1", 2, "cpu_per_vcpu_hour", "monthly price in the hourly"),
    ("default,,on_demand,0.03,3.09,0.1", 2, "memory_per_gib_hour", "monthly price in the hourly"),
    ("default,,on_demand,0.03,0.004,0.000137", 2, "storage_per_gib_month", "hourly price in"),
    ("default,,on_demand,0.03,0.004,102.4", 2, "storage_per_gib_month", "per TiB"),
    ("default,,on_demand,0.031611111,0.004,0.1", 2, "cpu_per_vcpu_hour", "8 decimal places"),
    ("default,,on_demand,,0.004,0.1", 2, "cpu_per_vcpu_hour", "missing"),
    (
        "default,,on_demand,0.03,0.004,0.1\nnode_label,a=b,spot,0.01,0.001,0.1\n"
        "node_label,a=b,on_demand,0.02,0.002,0.1",
        4,
        "selector",
        "already on line 3",
    ),
    (
        "default,,on_demand,0.03,0.004,0.1\nnode_label,pool,spot,0.01,0.001,0.1",
        3,
        "selector",
        "is not key=value",
    ),
    (
        "default,,on_demand,0.03,0.004,0.1\nnode_label,bad key=x,spot,0.01,0.001,0.1",
        3,
        "selector",
        "not a valid Kubernetes label key",
    ),
    (
        "default,,on_demand,0.03,0.004,0.1\nnode_label,,spot,0.01,0.001,0.1",
        3,
        "selector",
        "needs key=value",
    ),
    ("default,a=b,on_demand,0.03,0.004,0.1", 2, "selector", "must be empty on the default row"),
    (
        "default,,on_demand,0.03,0.004,0.1\ndefault,,spot,0.01,0.001,0.1",
        3,
        "kind",
        "a second default row (the first is line 2)",
    ),
    ("node_label,a=b,spot,0.01,0.001,0.1", None, "kind", "no default row"),
    ("", None, "kind", "no default row"),
    ("default,,reserved,0.03,0.004,0.1", 2, "capacity_type", "not on_demand or spot"),
    ("nodepool,,on_demand,0.03,0.004,0.1", 2, "kind", "not default or node_label"),
    ("default,,on_demand,0.03,0.004", 2, "", "5 fields; the header has 6"),
]


@pytest.mark.parametrize(("body", "line", "column", "words"), BAD)
def test_it_reports_each_bad_row_with_its_line_and_column(body, line, column, words):
    errors = prices.parse_price_sheet(f"{HEADER}\n{body}\n")
    assert isinstance(errors, list)
    hit = [e for e in errors if (e.line, e.column) == (line, column) and words in e.message]
    assert hit, [str(e) for e in errors]
    where = f"line {line}" if line else "the sheet"
    assert str(hit[0]).startswith(f"{where}, {column}" if column else where)


@pytest.mark.parametrize(
    ("header", "column", "words"),
    [
        (
            HEADER.replace("cpu_per_vcpu_hour", "cpu_per_vcpu_month"),
            "cpu_per_vcpu_month",
            "did you mean cpu_per_vcpu_hour",
        ),
        (HEADER.replace(",storage_per_gib_month", ""), "storage_per_gib_month", "missing column"),
        (HEADER + ",zone", "zone", "unknown column"),
        (HEADER + ",kind", "kind", "appears twice"),
    ],
)
def test_it_reports_a_bad_header_on_line_one(header, column, words):
    errors = prices.parse_price_sheet(f"{header}\ndefault,,on_demand,0.03,0.004,0.1\n")
    assert any(e.line == 1 and e.column == column and words in e.message for e in errors), errors


def test_it_reports_every_problem_at_once():
    body = "default,,on_demand,0,0.004,0.1\nnode_label,a=b,spot,-1,x,0.1\n"
    errors = prices.parse_price_sheet(f"{HEADER}\n{body}")
    assert [(e.line, e.column) for e in errors] == [
        (2, "cpu_per_vcpu_hour"),
        (3, "cpu_per_vcpu_hour"),
        (3, "memory_per_gib_hour"),
    ]


# --- services -------------------------------------------------------------------------------


def test_it_costs_a_cluster_without_a_sheet_at_the_defaults(cluster):
    assert prices_for_cluster(cluster) == prices.DEFAULT_SHEET


def test_it_loads_a_good_csv_and_audits_before_and_after(cluster, adam):
    price_sheet_load_csv(actor=adam, cluster=cluster, text=GOOD, reason="our negotiated rates")
    sheet = prices_for_cluster(cluster)
    assert sheet.source == "CSV upload by adam"
    assert [r.selector for r in sheet.rows] == ["", "cloud.google.com/gke-spot=true", "pool=batch"]
    assert sheet.default.prices.cpu_per_vcpu_hour == Decimal("0.04")
    stored = PriceSheet.objects.get(cluster=cluster)
    assert stored.updated_by == "adam" and stored.rows.count() == 3
    event = _price_events().get()
    assert event.verb == "prices.changed" and event.reason == "our negotiated rates"
    assert event.actor == "adam" and event.target_repr == "prices of cluster prod"
    assert event.before["custom"] is False
    assert event.before["rows"][0]["cpu_per_vcpu_hour"] == "0.031611"
    assert event.after["custom"] is True
    assert event.after["rows"][0] == {
        "kind": "default",
        "selector": "",
        "capacity_type": "on_demand",
        "cpu_per_vcpu_hour": "0.04",
        "memory_per_gib_hour": "0.005",
        "storage_per_gib_month": "0.12",
    }


@pytest.mark.parametrize(("body", "line", "column", "words"), BAD)
def test_it_refuses_a_bad_sheet_whole_and_keeps_the_old_one(
    cluster, adam, body, line, column, words
):
    price_sheet_load_csv(actor=adam, cluster=cluster, text=GOOD, reason="first")
    before, events = prices_for_cluster(cluster), _price_events().count()
    with pytest.raises(PriceSheetInvalid) as caught:
        price_sheet_load_csv(
            actor=adam, cluster=cluster, text=f"{HEADER}\n{body}\n", reason="second"
        )
    assert caught.value.status == 400
    assert any((e.line, e.column) == (line, column) for e in caught.value.errors)
    assert (f"line {line}" if line else "the sheet") in caught.value.message
    assert prices_for_cluster(cluster) == before
    assert PriceRow.objects.filter(sheet__cluster=cluster).count() == 3
    assert _price_events().count() == events


def test_it_checks_rows_given_directly_the_same_way(cluster, adam):
    bad = prices.PriceRow(
        prices.Kind.DEFAULT,
        "",
        prices.CapacityType.ON_DEMAND,
        prices.Prices(Decimal("0"), Decimal("0.004"), Decimal("0.1")),
    )
    with pytest.raises(PriceSheetInvalid) as caught:
        price_sheet_set(actor=adam, cluster=cluster, rows=[bad], source="hand", reason="x")
    assert str(caught.value.errors[0]).startswith("line 2, cpu_per_vcpu_hour: 0 is not more")
    assert not PriceSheet.objects.exists() and not _price_events().exists()


@pytest.mark.parametrize("column", prices.PRICE_COLUMNS)
@pytest.mark.parametrize("value", ["0", "-0.01"])
def test_it_refuses_zero_or_negative_prices_in_the_database_too(cluster, column, value):
    sheet = PriceSheet.objects.create(cluster=cluster, source="raw", updated_by="test")
    good = {c: Decimal("0.1") for c in prices.PRICE_COLUMNS}
    row = PriceRow(
        sheet=sheet,
        position=0,
        kind="default",
        capacity_type="on_demand",
        **{**good, column: Decimal(value)},
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        row.save()
    assert not PriceRow.objects.exists()


def test_it_refuses_a_second_default_row_in_the_database_too(cluster):
    sheet = PriceSheet.objects.create(cluster=cluster, source="raw", updated_by="test")
    good = {c: Decimal("0.1") for c in prices.PRICE_COLUMNS}
    PriceRow.objects.create(sheet=sheet, position=0, kind="default", **good)
    with pytest.raises(IntegrityError), transaction.atomic():
        PriceRow.objects.create(sheet=sheet, position=1, kind="default", **good)


def test_it_resets_to_the_defaults_and_audits(cluster, adam):
    price_sheet_load_csv(actor=adam, cluster=cluster, text=GOOD, reason="first")
    assert price_sheet_reset(actor=adam, cluster=cluster, reason="back to list prices")
    assert prices_for_cluster(cluster) == prices.DEFAULT_SHEET
    assert not PriceSheet.objects.exists() and not PriceRow.objects.exists()
    event = _price_events().latest("seq")
    assert event.verb == "prices.reset" and event.reason == "back to list prices"
    assert event.before["source"] == "CSV upload by adam"
    assert event.after == {"custom": False, **prices.as_dict(prices.DEFAULT_SHEET)}
    # Already on the defaults: nothing to do, nothing audited.
    assert not price_sheet_reset(actor=adam, cluster=cluster, reason="again")
    assert _price_events().count() == 2


@pytest.mark.parametrize("persona", ["vic", "olivia", "alice"])
def test_it_lets_only_an_admin_change_prices(cluster, persona, request):
    user = request.getfixturevalue(persona)
    with pytest.raises(RoleRequired):
        price_sheet_load_csv(actor=user, cluster=cluster, text=GOOD, reason="x")
    with pytest.raises(RoleRequired):
        price_sheet_reset(actor=user, cluster=cluster, reason="x")
    assert not PriceSheet.objects.exists() and not _price_events().exists()


def test_it_needs_a_reason(cluster, adam):
    with pytest.raises(ValidationFailed) as caught:
        price_sheet_load_csv(actor=adam, cluster=cluster, text=GOOD, reason="  ")
    assert caught.value.field == "reason"
    assert not PriceSheet.objects.exists() and not _price_events().exists()


def test_it_refuses_an_edit_of_a_sheet_that_changed_meanwhile(cluster, adam):
    seen = prices.fingerprint(prices_for_cluster(cluster))
    price_sheet_load_csv(actor=adam, cluster=cluster, text=GOOD, reason="someone else first")
    with pytest.raises(Conflict):
        price_sheet_set(
            actor=adam,
            cluster=cluster,
            rows=prices.DEFAULT_SHEET.rows,
            source="hand",
            reason="mine",
            base=seen,
        )
    assert prices_for_cluster(cluster).source == "CSV upload by adam"
