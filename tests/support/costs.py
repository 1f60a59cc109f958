"""Helpers for the cost tests."""


def allocation_summary(a) -> dict:
    """An Allocation's figures, rounded to 1e-9, for comparing two ways of computing it."""

    def level(items):
        eff = (None if e is None else round(e, 9) for e in (i.cpu_efficiency for i in items))
        return [
            (i.name, round(i.total, 9), e, round(i.hours, 9))
            for i, e in zip(items, eff, strict=True)
        ]

    return {
        "levels": [level(x) for x in (a.containers, a.pods, a.workloads, a.namespaces)],
        "nodes": [
            (n.node, round(n.cost, 9), round(n.idle, 9), round(n.over_allocated, 9))
            for n in a.nodes
        ],
        "totals": [round(x, 9) for x in (a.node_cost, a.allocated, a.idle, a.over_allocated)],
        "series": (
            a.series.starts,
            [round(h, 9) for h in a.series.hours],
            {k: [round(v, 9) for v in vs] for k, vs in a.series.namespaces.items()},
            [round(v, 9) for v in a.series.idle],
        ),
        "covered": (a.covered_from, a.covered_until, a.interval),
        "missing": a.missing,
        "notes": sorted(a.notes),
    }
