"""batch/v1 Jobs on the sandbox, through the official client: the job controller runs their
pods to completion, replaces failed ones after a back-off, and fails the Job past its limit."""

import json

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from apps.clusters.sandbox import scenario
from tests.clusters.test_sandbox_api import get
from tests.clusters.test_sandbox_schemas import violations
from tests.support.sandbox import start_sandbox

NS = "shop"


@pytest.fixture
def api(sandbox):
    """(BatchV1Api, CoreV1Api) on the paused sandbox, with the admin kubeconfig."""
    with k8s_config.new_client_from_config(str(sandbox.kubeconfig), "sandbox") as raw:
        yield k8s.BatchV1Api(raw), k8s.CoreV1Api(raw)


def job_body(name, image="registry.local/batch/export:1.0", **spec):
    restart = spec.pop("restart_policy", "Never")
    annotations = spec.pop("annotations", {})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {
                    "containers": [{"name": "task", "image": image}],
                    "restartPolicy": restart,
                },
            },
            **spec,
        },
    }


def pods_of(core, name):
    return core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items


def job_events(core, name):
    selector = f"involvedObject.kind=Job,involvedObject.name={name}"
    return core.list_namespaced_event(NS, field_selector=selector).items


def condition(job, ctype):
    return next((c for c in job.status.conditions or [] if c.type == ctype), None)


def invalid(exc) -> dict:
    assert exc.status == 422, exc.body
    body = json.loads(exc.body)
    assert (body["kind"], body["reason"]) == ("Status", "Invalid")
    return body


def test_it_runs_a_job_to_completion(sandbox, api):
    batch, core = api
    created = batch.create_namespaced_job(NS, job_body("export"))
    labels = created.spec.template.metadata.labels
    uid = created.metadata.uid
    assert labels["job-name"] == labels["batch.kubernetes.io/job-name"] == "export"
    assert labels["controller-uid"] == labels["batch.kubernetes.io/controller-uid"] == uid
    assert created.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    spec = created.spec
    assert (spec.backoff_limit, spec.completions, spec.parallelism) == (6, 1, 1)
    sandbox.sandbox.advance(30)  # pulled in 2-5 s, then 10 s of work

    stream = watch.Watch().stream(
        batch.list_namespaced_job,
        NS,
        field_selector="metadata.name=export",
        resource_version=created.metadata.resource_version,
        timeout_seconds=5,
    )
    seen = []
    for event in stream:
        seen.append(event["type"])
        if condition(event["object"], "Complete"):
            break
    assert "MODIFIED" in seen

    job = batch.read_namespaced_job("export", NS)
    complete = condition(job, "Complete")
    assert (complete.status, complete.reason) == ("True", "CompletionsReached")
    assert (job.status.succeeded, job.status.failed, job.status.active) == (1, None, None)
    assert job.status.start_time <= job.status.completion_time
    assert job.status.uncounted_terminated_pods is not None
    [pod] = pods_of(core, "export")
    assert pod.metadata.name.startswith("export-") and len(pod.metadata.name) == len("export-") + 5
    owner = pod.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller) == ("Job", "export", True)
    assert pod.status.phase == "Succeeded"
    done = pod.status.container_statuses[0].state.terminated
    assert (done.reason, done.exit_code) == ("Completed", 0)
    reasons = {(e.type, e.reason, e.message) for e in job_events(core, "export")}
    assert ("Normal", "SuccessfulCreate", f"Created pod: {pod.metadata.name}") in reasons
    assert ("Normal", "Completed", "Job completed") in reasons
    usage = get(sandbox, f"/apis/metrics.k8s.io/v1beta1/namespaces/{NS}/pods")["items"]
    assert pod.metadata.name not in {m["metadata"]["name"] for m in usage}  # no CPU or memory
    raw = get(sandbox, f"/apis/batch/v1/namespaces/{NS}/jobs/export")
    assert violations(raw) == []
    assert violations(get(sandbox, f"/api/v1/namespaces/{NS}/pods/{pod.metadata.name}")) == []


def test_a_failing_job_is_retried_with_back_off_then_fails(sandbox, api):
    batch, core = api
    body = job_body("nightly", "registry.local/batch/export:2.0-failing", backoffLimit=1)
    batch.create_namespaced_job(NS, body)
    sandbox.sandbox.advance(12)  # the first pod ran 5 s and failed; the next waits 10 s
    job = batch.read_namespaced_job("nightly", NS)
    assert (job.status.failed, job.status.active) == (1, None)
    assert condition(job, "Failed") is None
    sandbox.sandbox.advance(60)

    job = batch.read_namespaced_job("nightly", NS)
    failed = condition(job, "Failed")
    assert (failed.status, failed.reason) == ("True", "BackoffLimitExceeded")
    assert failed.message == "Job has reached the specified backoff limit"
    assert condition(job, "FailureTarget").reason == "BackoffLimitExceeded"
    assert (job.status.failed, job.status.succeeded, job.status.active) == (2, None, None)
    pods = pods_of(core, "nightly")
    assert len(pods) == 2 and all(p.status.phase == "Failed" for p in pods)
    for pod in pods:
        state = pod.status.container_statuses[0].state.terminated
        assert (state.reason, state.exit_code) == ("Error", 1)
    warnings = {(e.type, e.reason, e.message) for e in job_events(core, "nightly")}
    assert ("Warning", "BackoffLimitExceeded", failed.message) in warnings
    truth = [f for f in sandbox.sandbox.failures if f["kind"] == "JobFailed"]
    assert [f["workload"] for f in truth] == [f"{NS}/nightly"]

    sandbox.sandbox.advance(600)  # a failed Job makes no more pods
    assert len(pods_of(core, "nightly")) == 2
    running = core.list_namespaced_pod(NS, field_selector="status.phase=Running").items
    assert not [p for p in running if p.metadata.labels.get("job-name") == "nightly"]


def test_an_on_failure_job_counts_restarts_against_its_limit(sandbox, api):
    batch, core = api
    image = "registry.local/batch/export:2.0-failing"
    body = job_body("retry", image, backoffLimit=2, restart_policy="OnFailure")
    batch.create_namespaced_job(NS, body)
    sandbox.sandbox.advance(20)
    [pod] = pods_of(core, "retry")
    assert pod.status.container_statuses[0].restart_count >= 1  # restarted in place
    sandbox.sandbox.advance(120)
    job = batch.read_namespaced_job("retry", NS)
    assert condition(job, "Failed").reason == "BackoffLimitExceeded"
    assert job.status.failed == 1
    assert pods_of(core, "retry") == []  # the controller stopped it


def test_it_runs_a_job_for_the_seconds_its_pod_template_says(sandbox, api):
    batch, core = api
    body = job_body("long", annotations={"sandbox.zerotouch.dev/run-seconds": "120"})
    batch.create_namespaced_job(NS, body)
    sandbox.sandbox.advance(60)
    assert batch.read_namespaced_job("long", NS).status.active == 1
    assert pods_of(core, "long")[0].status.phase == "Running"
    sandbox.sandbox.advance(90)
    assert batch.read_namespaced_job("long", NS).status.succeeded == 1


@pytest.mark.parametrize("policy", ["Always", None])
def test_it_rejects_a_job_whose_pods_would_restart_always(sandbox, api, policy):
    batch, _ = api
    body = job_body("bad")
    body["spec"]["template"]["spec"]["restartPolicy"] = policy
    with pytest.raises(ApiException) as raised:
        batch.create_namespaced_job(NS, body)
    status = invalid(raised.value)
    assert status["details"]["causes"][0]["field"] == "spec.template.spec.restartPolicy"
    assert 'Unsupported value: "Always"' in status["message"]
    assert sandbox.sandbox.store.get("batch/jobs", NS, "bad") is None


def test_it_rejects_a_job_without_containers(sandbox, api):
    batch, _ = api
    body = job_body("empty")
    body["spec"]["template"]["spec"]["containers"] = []
    with pytest.raises(ApiException) as raised:
        batch.create_namespaced_job(NS, body)
    field = invalid(raised.value)["details"]["causes"][0]["field"]
    assert field == "spec.template.spec.containers"


def test_deleting_a_job_deletes_its_pods(sandbox, api):
    batch, core = api
    body = job_body("sweep", annotations={"sandbox.zerotouch.dev/run-seconds": "3600"})
    batch.create_namespaced_job(NS, body)
    sandbox.sandbox.advance(30)
    assert [p.status.phase for p in pods_of(core, "sweep")] == ["Running"]
    listed = batch.list_job_for_all_namespaces().items
    assert "sweep" in {j.metadata.name for j in listed}
    batch.delete_namespaced_job("sweep", NS)
    assert pods_of(core, "sweep") == []
    with pytest.raises(ApiException) as raised:
        batch.read_namespaced_job("sweep", NS)
    assert raised.value.status == 404
    sandbox.sandbox.advance(60)
    assert pods_of(core, "sweep") == []  # and nothing makes them again


def test_discovery_lists_batch_v1_jobs(sandbox):
    with k8s_config.new_client_from_config(str(sandbox.kubeconfig), "sandbox") as raw:
        groups = {g.name: g for g in k8s.ApisApi(raw).get_api_versions().groups}
        resources = {r.name: r for r in k8s.BatchV1Api(raw).get_api_resources().resources}
    assert groups["batch"].preferred_version.group_version == "batch/v1"
    jobs = resources["jobs"]
    assert (jobs.kind, jobs.namespaced, jobs.categories) == ("Job", True, ["all"])
    assert {"create", "delete", "get", "list", "patch", "watch"} <= set(jobs.verbs)
    assert resources["jobs/status"].kind == "Job"


def test_the_failed_job_scenario_fails_its_nightly_export(tmp_path):
    server = start_sandbox(tmp_path, "failed-job")
    try:
        with k8s_config.new_client_from_config(str(server.kubeconfig), "sandbox") as raw:
            batch, core = k8s.BatchV1Api(raw), k8s.CoreV1Api(raw)
            assert batch.list_job_for_all_namespaces().items == []  # created at minute 5
            server.sandbox.advance(4 * 60 + 3 * 60)  # to minute 8: past three runs and back-offs
            [job] = batch.list_job_for_all_namespaces().items
            pods = core.list_namespaced_pod("reports", label_selector="job-name=nightly-export")
            apps = k8s.AppsV1Api(raw).list_deployment_for_all_namespaces().items
        assert (job.metadata.namespace, job.metadata.name) == ("reports", "nightly-export")
        assert job.spec.backoff_limit == 2 and job.status.failed == 3
        assert condition(job, "Failed").reason == "BackoffLimitExceeded"
        assert [p.status.phase for p in pods.items] == ["Failed"] * 3
        assert all(d.status.ready_replicas == d.spec.replicas for d in apps)  # the rest is fine
        truth = get(server, "/sandbox/ground-truth")
        assert truth["jobs"] == [
            {
                "at_seconds": 300.0,
                "target": "reports/nightly-export",
                "image": "registry.local/reports/export:3.2.0-failing",
                "expect": ["JobFailed"],
            }
        ]
        [failure] = truth["failures"]
        assert (failure["kind"], failure["workload"]) == ("JobFailed", "reports/nightly-export")
        assert failure["time"] > "2026-01-05T09:05:00Z"
    finally:
        server.stop()


def test_a_scenario_job_must_not_restart_always():
    doc = {
        "nodes": [{"name": "node", "count": 1, "cpu": "4", "memory": "8Gi"}],
        "jobs": [{"name": "j", "namespace": "x", "image": "i", "restartPolicy": "Always"}],
    }
    with pytest.raises(scenario.ScenarioError, match="restartPolicy"):
        scenario.parse(doc)
    doc["jobs"][0]["restartPolicy"] = "OnFailure"
    [job] = scenario.parse(doc).jobs
    assert (job.restart_policy, job.backoff_limit, job.at.total_seconds()) == ("OnFailure", 6, 0)
    assert scenario.parse(doc).namespaces == ["x"]
