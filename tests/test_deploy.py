"""Production settings: `check --deploy` is clean, and nothing is fetched from a CDN."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _check_deploy(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_nothing_under_production_settings(tmp_path):
    test_only = ("DEBUG", "HTTPS", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in test_only}
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": "p" * 20 + "R0duct!on-K3y-w1th-enough-entropy-and-length-0123456789",
            "ALLOWED_HOSTS": "zerotouch.example.com",
            "STATIC_MANIFEST": "1",
            "WHITENOISE_USE_FINDERS": "0",
            "ZEROTOUCH_VAR_DIR": str(tmp_path),
            "STATIC_ROOT": str(tmp_path / "static"),
            "AUDIT_KEY": "a" * 20 + "-audit-key-kept-apart-from-the-database",
            "AUDIT_CHECKPOINT_SINKS": f"file://{tmp_path}/audit/checkpoints.jsonl",
            "ZEROTOUCH_URL": "https://zerotouch.example.com/",
        }
    )
    result = _check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    # Only security.W021 (HSTS preload) is silenced: preloading is the owner's decision.
    assert "System check identified no issues (1 silenced)." in result.stdout
    # Without an audit key of its own, production is warned (the demo generates one).
    del env["AUDIT_KEY"]
    warned = _check_deploy(env)
    assert warned.returncode != 0 and "zerotouch.W001" in warned.stdout + warned.stderr
    # Nor without the address its notification links start at.
    env["AUDIT_KEY"] = "a" * 20 + "-audit-key-kept-apart-from-the-database"
    del env["ZEROTOUCH_URL"]
    unlinked = _check_deploy(env)
    assert unlinked.returncode != 0 and "zerotouch.W002" in unlinked.stdout + unlinked.stderr


def test_production_settings_are_secure_by_default(tmp_path):
    code = (
        "from django.conf import settings as s;"
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "HTTPS")}
    env.update(
        {"DJANGO_SETTINGS_MODULE": "aiops_site.settings", "ZEROTOUCH_VAR_DIR": str(tmp_path)}
    )
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup();" + code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == ["False", "True", "True", "True", "True"], result.stderr


def test_no_template_or_static_file_loads_from_a_cdn():
    pattern = re.compile(r"https?://(?!www\.w3\.org)[a-z0-9.-]+\.[a-z]{2,}/", re.I)
    offenders = []
    for folder in ("templates", "static", "apps"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".html", ".js", ".css") and pattern.search(path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


# Under production settings, Host headers as a kubelet sends them; then again with the database
# gone (SQLite pointed at a directory that does not exist).
_PROBE = """
import json, django
django.setup()
from django.db import connection
from django.test import Client
def probe():
    out = {}
    for host in ("10.1.2.3", "10.1.2.3:8000", "zerotouch.example.com"):
        for path in ("/health", "/livez", "/login/"):
            r = Client().get(path, HTTP_HOST=host)
            out[host + path] = [r.status_code, r.content.decode()[:40]]
    return out
up = probe()
connection.close()
connection.settings_dict["NAME"] = "/nonexistent-zerotouch-dir/db.sqlite3"
print(json.dumps({"up": up, "down": probe()}))
"""


def test_the_probes_answer_whatever_the_host_under_production_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "HTTPS", "DATABASE_URL")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "aiops_site.settings",
            "ZEROTOUCH_VAR_DIR": str(tmp_path),
            "ALLOWED_HOSTS": "zerotouch.example.com",
            "LOG_LEVEL": "CRITICAL",  # DisallowedHost is logged: expected here
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    up, down = seen["up"], seen["down"]
    # The kubelet sends the pod IP as Host: the probes answer it, before host validation and
    # the HTTPS redirect; every other page still refuses that Host.
    assert up["10.1.2.3/health"] == [200, "ok"]
    assert up["10.1.2.3:8000/health"] == [200, "ok"]
    assert up["10.1.2.3/livez"] == [200, "ok"]
    assert up["10.1.2.3/login/"][0] == 400
    assert up["zerotouch.example.com/login/"][0] == 301  # HTTPS redirect: the host is allowed
    # Readiness checks the database; liveness does no I/O, so an outage restarts nothing.
    assert down["10.1.2.3/health"] == [503, "database unavailable"]
    assert down["10.1.2.3/livez"] == [200, "ok"]
    assert down["zerotouch.example.com/login/"][0] == 301
