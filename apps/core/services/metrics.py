"""Telemetry the workers write for /metrics: durations and failures of background work. Not a
domain change, so not audited."""

import json
from bisect import bisect_left

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import WorkStat

# Upper bounds in seconds, from a quick scoring to a long training (+Inf is implied).
BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


def work_observe(*, name: str, labels: dict[str, str], seconds: float, ok: bool = True) -> None:
    """Count one run of `name` (a histogram of its duration) and whether it failed."""
    key = json.dumps(labels, sort_keys=True)
    with transaction.atomic():
        stat = WorkStat.objects.select_for_update().filter(name=name, key=key).first()
        if stat is None:
            try:
                with transaction.atomic():
                    stat = WorkStat.objects.create(
                        name=name, key=key, labels=labels, buckets=[0] * len(BUCKETS)
                    )
            except IntegrityError:  # another worker created it first
                stat = WorkStat.objects.select_for_update().get(name=name, key=key)
        first = bisect_left(BUCKETS, seconds)  # every bucket from here up counts it
        stat.buckets = [n + (i >= first) for i, n in enumerate(stat.buckets)]
        stat.count += 1
        stat.failures += not ok
        stat.sum_seconds += max(seconds, 0.0)
        stat.updated_at = timezone.now()
        stat.save(update_fields=["buckets", "count", "failures", "sum_seconds", "updated_at"])
