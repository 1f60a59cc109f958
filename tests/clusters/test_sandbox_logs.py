"""Container logs in the sandbox: what each container writes follows what happens to it, read
through the official client, the gateway and the kubectl binary (logs, --previous, --tail, -f)."""

import json
import subprocess
import threading

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from apps.clusters.gateway import Gateway, errors
from apps.clusters.sandbox import logs, scenario
from apps.clusters.sandbox.api import Request, handle
from apps.clusters.sandbox.sim import Sandbox
from tests.clusters.test_kubectl import kubectl, kubectl_command, pods
from tests.support.sandbox import START, start_sandbox
from tests.support.waiting import wait_for

# Three things happen by minute 12: shop/api leaks (OOM-killed about 3 minutes later, again
# and again), shop/web's config is broken (each start exits with the missing key), and
# shop/calm just serves.
SCENARIO = """
name: logs
description: "A leak, a broken config and a calm service."
nodes:
  - {name: node, count: 2, cpu: "8", memory: 32Gi}
workloads:
  - {name: api, namespace: shop, replicas: 1, image: registry.local/shop/api:2.1.0,
     requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi},
     usage: {cpu: 50m, memory: 100Mi}}
  - {name: web, namespace: shop, replicas: 1, image: registry.local/shop/web:1.4.2,
     requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi},
     usage: {cpu: 50m, memory: 100Mi}}
  - {name: calm, namespace: shop, replicas: 1, image: registry.local/shop/calm:3.0.0,
     requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi},
     usage: {cpu: 50m, memory: 100Mi}}
faults:
  - {at: 2m, kind: memory_leak, target: shop/api, params: {leak_per_hour: 4Gi}}
  - {at: 2m, kind: crash_loop, target: shop/web, params: {config: checkout-v7}}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One paused sandbox for the module, 12 minutes in."""
    path = tmp_path_factory.mktemp("logs")
    (path / "logs.yaml").write_text(SCENARIO)
    server = start_sandbox(path, str(path / "logs.yaml"), warmup=12 * 60)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def core(cluster):
    configuration = client.Configuration()
    config.load_kube_config(str(cluster.kubeconfig), "sandbox", configuration)
    api = client.ApiClient(configuration)
    yield client.CoreV1Api(api)
    api.close()


def pod_of(server, app: str) -> str:
    """The app's pod that restarted most (a rollout that crashes leaves the old one serving)."""
    mine = [p for p in pods(server, "shop") if p["metadata"]["name"].startswith(app + "-")]
    pod = max(mine, key=lambda p: p["status"]["containerStatuses"][0]["restartCount"])
    return pod["metadata"]["name"]


def test_a_serving_container_logs_its_start_and_sampled_requests(cluster, core):
    text = core.read_namespaced_pod_log(pod_of(cluster, "calm"), "shop")
    lines = text.splitlines()
    assert "INFO  starting calm 3.0.0 in pod calm-" in lines[0]
    assert "image registry.local/shop/calm:3.0.0" in lines[0]
    assert any(line.endswith("listening on :8080") for line in lines[:4])
    requests = [line for line in lines if "(sampled 1/100)" in line]
    # About 12 a minute at 20 requests/s (one in 100 logged) for the minutes it has served.
    assert 60 <= len(requests) <= 200, len(requests)
    stamps = [line.split(" ", 1)[0] for line in lines]
    assert stamps == sorted(stamps) and stamps[-1] <= cluster.sandbox.iso().replace("Z", ".999Z")
    last5 = core.read_namespaced_pod_log(pod_of(cluster, "calm"), "shop", tail_lines=5)
    assert last5.splitlines() == lines[-5:]


def test_an_oom_killed_containers_previous_log_ends_with_its_last_words(cluster, core):
    name = pod_of(cluster, "api")
    previous = core.read_namespaced_pod_log(name, "shop", previous=True).splitlines()
    assert "WARN  memory at " in previous[-2] and "of the 256Mi limit (99%)" in previous[-2]
    assert "ERROR out of memory: cannot allocate" in previous[-1]
    warnings = [line for line in previous if "the heap keeps growing" in line]
    assert warnings, "the working set nearing its limit is logged before the kill"
    state = core.read_namespaced_pod(name, "shop").status.container_statuses[0].state
    current = core.read_namespaced_pod_log(name, "shop").splitlines()
    if state.running:  # the restart's own log
        assert "(restart " in current[0] and current != previous
    else:  # waiting to restart: as the kubelet, the run that just ended
        assert current == previous


def test_a_crash_looping_containers_log_names_the_missing_key(cluster, core):
    name = pod_of(cluster, "web")
    previous = core.read_namespaced_pod_log(name, "shop", previous=True, tail_lines=2)
    error, fatal = previous.splitlines()
    assert 'ERROR config: required key "' in error
    assert 'is missing from /etc/web/config.yaml (config "checkout-v7")' in error
    assert "FATAL web 1.4.2 exiting with code 1" in fatal
    status = core.read_namespaced_pod(name, "shop").status.container_statuses[0]
    assert status.restart_count >= 2


def test_wrong_containers_and_missing_runs_are_refused_as_the_api_server_words_them(cluster, core):
    calm = pod_of(cluster, "calm")
    cases = [
        ({"container": "nope"}, 400, f"container nope is not valid for pod {calm}"),
        (
            {"previous": True},
            400,
            f'previous terminated container "calm" in pod "{calm}" not found',
        ),
        ({"tail_lines": -1}, 400, "tailLines"),
    ]
    for kwargs, code, message in cases:
        with pytest.raises(ApiException) as caught:
            core.read_namespaced_pod_log(calm, "shop", **kwargs)
        status = json.loads(caught.value.body)
        assert caught.value.status == code and message in status["message"], status
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log("gone", "shop")
    assert caught.value.status == 404
    assert json.loads(caught.value.body)["message"] == 'pods "gone" not found'


def test_the_gateway_reads_logs_and_types_its_failures(cluster):
    gw = Gateway.from_kubeconfig(cluster.kubeconfig, "sandbox")
    try:
        api = pod_of(cluster, "api")
        log = gw.container_logs("shop", api, "api", previous=True, tail=3)
        assert log.previous and len(log.lines) == 3 and "out of memory" in log.lines[-1]
        with pytest.raises(errors.Invalid, match="not valid for pod"):
            gw.container_logs("shop", api, "sidecar")
        with pytest.raises(errors.NotFound):
            gw.container_logs("shop", "gone")
    finally:
        gw.close()
    viewer = Gateway.from_kubeconfig(cluster.kubeconfig, "sandbox-viewer")
    try:  # a read: the read-only identity may do it
        assert viewer.container_logs("shop", pod_of(cluster, "calm"), tail=1).lines
    finally:
        viewer.close()


def test_kubectl_logs_tail_and_previous(cluster):
    calm = pod_of(cluster, "calm")
    tail = kubectl(cluster, "logs", "-n", "shop", calm, "--tail=5").stdout.splitlines()
    assert len(tail) == 5 and all("(sampled 1/100)" in line for line in tail)
    stamped = kubectl(cluster, "logs", "-n", "shop", calm, "--tail=1", "--timestamps").stdout
    assert stamped.startswith(START.strftime("%Y-%m-%dT")) and stamped.count("Z ") == 2
    previous = kubectl(cluster, "logs", "-n", "shop", pod_of(cluster, "api"), "--previous")
    assert "ERROR out of memory" in previous.stdout.splitlines()[-1]
    refused = kubectl(cluster, "logs", "-n", "shop", calm, "--previous", check=False)
    assert refused.returncode != 0
    assert f'previous terminated container "calm" in pod "{calm}" not found' in refused.stderr
    wrong = kubectl(cluster, "logs", "-n", "shop", calm, "-c", "nope", check=False)
    assert wrong.returncode != 0 and f"container nope is not valid for pod {calm}" in wrong.stderr


def test_kubectl_logs_follow_streams_new_lines_as_the_clock_moves(cluster):
    calm = pod_of(cluster, "calm")
    command, env = kubectl_command(cluster, "logs", "-n", "shop", calm, "-f", "--tail=1")
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lambda: len(seen) >= 1, timeout=20, what="the first line")
        first = list(seen)
        cluster.sandbox.advance(60)
        wait_for(lambda: len(seen) >= 4, timeout=20, what="lines of the next minute")
        assert seen[0] == first[0] and seen[1:] and seen[-1] > seen[0]
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_exec_and_port_forward_say_the_sandbox_cannot(cluster):
    calm = pod_of(cluster, "calm")
    run = kubectl(cluster, "exec", "-n", "shop", calm, "--", "ls", check=False)
    assert run.returncode != 0 and "the sandbox cannot exec into pod" in run.stderr, run.stderr
    forward = kubectl(cluster, "port-forward", "-n", "shop", calm, "18080:8080", check=False)
    assert forward.returncode != 0 and "cannot port-forward" in forward.stderr, forward.stderr


def test_discovery_lists_the_log_subresource(core):
    found = {r.name: r for r in core.get_api_resources().resources}
    assert found["pods/log"].verbs == ["get"] and found["pods/log"].kind == "Pod"


def test_logs_are_the_same_under_the_same_seed_and_bounded():
    def text(seed: int) -> bytes:
        sb = Sandbox(scenario.load("memory-leak"), seed=seed, start=START)
        sb.advance(2 * 3600)
        pod = next(p for p in sb.store.list("pods", "shop") if "web-" in p["metadata"]["name"])
        path = f"/api/v1/namespaces/shop/pods/{pod['metadata']['name']}/log"
        answer = handle(sb, Request("GET", path, {"timestamps": "true"}, {}))
        assert answer.status == 200
        return answer.body

    one = text(1)
    assert one == text(1) and one != text(2)
    assert len(one.splitlines()) == logs.MAX_LINES  # two hours of requests: the last 1,000
