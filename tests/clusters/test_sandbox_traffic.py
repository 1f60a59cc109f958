"""The sandbox's golden signals respond to faults as a service behind a Service would. Pure:
the simulator's own functions, no server."""

from apps.clusters.sandbox import scenario, traffic
from apps.clusters.sandbox.sim import Sandbox
from tests.support.sandbox import START


def _web(sb):
    return next(d for d in sb.store.list("apps/deployments") if d["metadata"]["name"] == "web")


def _sandbox():
    sb = Sandbox(scenario.load("healthy"), seed=1, start=START)
    sb.advance(60)
    return sb


def test_healthy_traffic_is_served_without_errors():
    s = traffic.signals(_sandbox(), _web(_sandbox()))
    assert s.rate > 0 and s.error_ratio == 0 and s.fixed_latency == 0
    assert traffic.BASE_LATENCY <= s.mean_latency < 0.5


def test_fewer_ready_pods_queue_then_fail_past_saturation():
    sb = _sandbox()
    dep = _web(sb)
    healthy = traffic.signals(sb, dep)
    dep["status"]["readyReplicas"] = 1
    one = traffic.signals(sb, dep)
    assert one.mean_latency > healthy.mean_latency  # busier pods queue
    dep["status"]["readyReplicas"] = 0
    assert traffic.signals(sb, dep).error_ratio == 1.0  # nothing serves


def test_network_faults_add_delay_and_drop_requests():
    sb = _sandbox()
    dep = _web(sb)
    sb.latency_extra["shop/web"] = 0.3
    sb.packet_loss["shop/web"] = 0.25
    s = traffic.signals(sb, dep)
    assert s.fixed_latency == 0.3 and s.error_ratio >= 0.25
    assert traffic.share_within(0.25, s) == 0  # nothing is faster than the added delay


def test_counters_only_grow_and_the_histogram_is_cumulative():
    sb = _sandbox()
    dep = _web(sb)
    totals = traffic.advance(None, traffic.signals(sb, dep), sb.now)
    sb.advance(60)
    totals = traffic.advance(totals, traffic.signals(sb, dep), sb.now)
    assert totals.count > 0 and totals.buckets == sorted(totals.buckets)
    assert totals.buckets[-1] <= totals.count
    before = totals.count
    sb.advance(30)
    assert traffic.advance(totals, traffic.signals(sb, dep), sb.now).count > before
