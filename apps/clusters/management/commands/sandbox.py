"""`python manage.py sandbox`: run the simulated cluster on 127.0.0.1 and write its kubeconfig."""

import signal
import threading
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.clusters.sandbox import scenario as scenarios
from apps.clusters.sandbox.server import SandboxServer
from apps.clusters.sandbox.sim import Sandbox
from apps.clusters.services import cluster_register_sandbox


class Command(BaseCommand):
    help = "Run the sandbox cluster: a simulated cluster that speaks the Kubernetes API."

    def add_arguments(self, parser):
        parser.add_argument(
            "--scenario",
            default="healthy",
            help=f"one of: {', '.join(scenarios.available())}, or a YAML path",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--speed",
            type=float,
            default=1.0,
            help="simulated seconds per real second (0: only /sandbox/advance)",
        )
        parser.add_argument(
            "--start",
            default="",
            help="the simulated start, e.g. 2026-01-05T09:00:00Z (default: now);"
            " the same scenario, seed and start give the same cluster",
        )
        parser.add_argument("--port", type=int, default=6443)
        parser.add_argument(
            "--kubeconfig",
            default=str(Path(settings.VAR_DIR) / "kubeconfigs" / "sandbox.kubeconfig"),
        )
        parser.add_argument(
            "--register",
            action="store_true",
            help="register it as the cluster 'sandbox' (collected every 30 simulated seconds)",
        )

    def handle(self, *args, scenario, seed, speed, start, port, kubeconfig, register, **options):
        try:
            plan = scenarios.load(scenario)
        except scenarios.ScenarioError as exc:
            raise CommandError(str(exc)) from exc
        if speed < 0:
            raise CommandError("--speed must be 0 or more")
        try:
            begin = datetime.fromisoformat(start.replace("Z", "+00:00")) if start else None
        except ValueError as exc:
            raise CommandError(f"--start: not an ISO date and time: {start!r}") from exc
        if begin is not None and begin.tzinfo is None:
            raise CommandError("--start needs a time zone, e.g. ...Z")
        try:
            server = SandboxServer(
                Sandbox(plan, seed=seed, start=begin), port=port, speed=speed
            ).start()
        except OSError as exc:
            raise CommandError(f"cannot listen on 127.0.0.1:{port}: {exc}") from exc
        path = server.write_kubeconfig(Path(kubeconfig))
        if register:
            # The collector samples every 30 s of the cluster's clock, at least every 5 s.
            interval = max(5, round(30 / speed)) if speed else 30
            cluster_register_sandbox(kubeconfig_path=str(path), interval=interval)
        self.stdout.write(
            f"sandbox cluster (simulated) '{plan.name}' seed={seed} "
            f"speed={speed}x on {server.url}\nkubeconfig: {path}\n"
            f"try: KUBECONFIG={path} kubectl get pods -A"
        )
        done = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: done.set())
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        done.wait()
        server.stop()
        self.stdout.write("sandbox stopped.")
