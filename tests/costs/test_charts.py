"""The Costs charts read at a glance: a money axis with places enough that its ticks differ,
and one early bucket shown as hours, not milliseconds (pure: no database)."""

from datetime import UTC, datetime, timedelta

from apps.costs.allocation import Series
from apps.costs.charts import cost_by_namespace, money_ticks


def test_a_money_axis_has_places_enough_for_its_range():
    assert money_ticks(0.012) == "$.4f"  # $0.0040 $0.0080 $0.0120, not $0.00 $0.01 $0.01
    assert money_ticks(0.4) == "$.3f"
    assert money_ticks(1234.0) == "$,.2f"


def test_one_early_bucket_spans_the_hours_around_it():
    start = datetime(2026, 12, 7, 20, tzinfo=UTC)
    series = Series(
        bucket=timedelta(hours=1),
        starts=(start,),
        hours=(0.25,),
        namespaces={"shop": (0.002,)},
        idle=(0.001,),
    )
    layout = cost_by_namespace(series).to_plotly_json()["layout"]
    low, high = layout["xaxis"]["range"]
    assert (low, high) == (start - timedelta(hours=1), start + timedelta(hours=1))
    assert layout["xaxis"]["tickformat"].startswith("%H:%M")
    assert layout["yaxis"]["tickformat"] == "$.4f"  # $0.012 an hour at most
