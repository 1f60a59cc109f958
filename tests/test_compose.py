"""docker-compose.yml cannot run here (no Docker engine), so check what can be checked: the
services the issue names, production settings only from the environment, and commands that
point at modules that exist."""

import importlib
from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_it_runs_web_worker_beat_postgres_and_redis_with_migrations_first():
    services = _compose()["services"]
    assert {"web", "worker", "worker-act", "worker-train", "beat", "db", "redis", "migrate"} <= set(
        services
    )
    assert services["migrate"]["command"][-2:] == ["migrate", "--noinput"]
    for name in ("web", "worker", "worker-act", "worker-train", "beat"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["CELERY_BROKER_URL"].startswith("redis://")
        assert env["DEBUG"] == "0" and "SECRET_KEY" in env
        assert "//zerotouch_app:" in env["DATABASE_URL"]  # not the tables' owner
    owner_env = services["migrate"]["environment"]
    assert "//zerotouch:" in owner_env["DATABASE_URL"]  # migrations run as the owner
    mounts = " ".join(services["db"]["volumes"])
    assert "deploy/postgres/10-app-role.sh" in mounts and "app-privileges.sql" in mounts


def test_its_commands_point_at_real_modules():
    services = _compose()["services"]
    for name in ("worker", "worker-act", "worker-train", "beat"):
        cmd = services[name]["command"]
        assert cmd[:3] == ["celery", "-A", "aiops_site"]
    importlib.import_module("aiops_site.celery")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '"aiops_site.wsgi:application"' in dockerfile
    importlib.import_module("aiops_site.wsgi")


def test_the_workers_read_every_queue_and_training_has_a_worker_of_its_own():
    services = _compose()["services"]
    read = {}
    for name, service in services.items():
        cmd = service.get("command") or []
        if cmd[:4] == ["celery", "-A", "aiops_site", "worker"]:
            read[name] = cmd[cmd.index("-Q") + 1].split(",")
    assert read == {
        "worker": ["collect", "score", "default"],
        "worker-act": ["act"],
        "worker-train": ["train"],
    }
    assert sorted(q for queues in read.values() for q in queues) == sorted(settings.TASK_QUEUES)


def test_web_and_worker_share_the_model_directory():
    services = _compose()["services"]
    for name in ("web", "worker", "worker-train"):
        assert "models:/app/models" in services[name]["volumes"]
    assert "MODEL_DIR=/app/models" in (ROOT / "Dockerfile").read_text()


def test_the_audit_anchor_has_a_key_of_its_own_and_a_sink_every_container_shares():
    services = _compose()["services"]
    env = services["web"]["environment"]
    assert env["AUDIT_KEY"].startswith("${AUDIT_KEY:?")  # required, never generated per container
    sink = env["AUDIT_CHECKPOINT_SINKS"]
    assert "file:///app/audit/" in sink
    for name in ("web", "worker"):  # the worker writes checkpoints, audit_verify reads them
        assert any(v.startswith("audit:/app/audit") for v in services[name]["volumes"])
