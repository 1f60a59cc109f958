"""`make demo`: migrate, create one demo user per role, then run the web server, two Celery
workers (one for training, one for the rest), Celery beat and the sandbox cluster (busy-day in
fast motion, registered as "sandbox") on the embedded default (SQLite, filesystem broker) until
Ctrl-C."""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from apps.core.services import user_create, user_roles_set

# The worker and beat are restarted when they die (a worker killed by the OOM killer, say); the
# web server and the sandbox are not: their state would not survive a restart.
RESTARTED = ("worker", "trainer", "beat")
RESTART_LIMIT, RESTART_WINDOW = 5, 60


def _start(cmd: list[str]) -> subprocess.Popen:
    # Fixed argv, our own interpreter, no shell.
    return subprocess.Popen(  # noqa: S603  # nosec B603
        cmd,
        cwd=settings.BASE_DIR,
        start_new_session=True,
        preexec_fn=_die_with_parent,
        env=os.environ.copy(),
    )


DEMO_USERS = [  # username, role; password is "<username>-demo"
    ("vic", "viewer"),
    ("olivia", "operator"),
    ("alice", "approver"),
    ("bob", "approver"),
    ("adam", "admin"),
]


def _die_with_parent() -> None:
    """Child processes get SIGTERM if the demo process dies, so nothing is left behind."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Command(BaseCommand):
    help = "Run the whole product locally for a demo (DEBUG only)."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--sandbox-port", type=int, default=6443)
        parser.add_argument(
            "--sandbox-speed", type=float, default=10.0, help="simulated seconds per real second"
        )
        parser.add_argument(
            "--setup-only", action="store_true", help="migrate and create demo users, then exit"
        )

    def handle(self, *args, addr, setup_only, sandbox_port, sandbox_speed, **options):
        self.sandbox_args = ["--port", str(sandbox_port), "--speed", str(sandbox_speed)]
        if not settings.DEBUG:
            raise CommandError("demo users are for the demo only: run with DEBUG=1 (make demo)")
        call_command("migrate", interactive=False, verbosity=0)
        self._users()
        if setup_only:
            return
        self._run(addr)

    def _users(self) -> None:
        User = get_user_model()
        self.stdout.write("\nDemo users (demo only; never create these in production):")
        for username, role in DEMO_USERS:
            user = User.objects.filter(username=username).first() or user_create(
                actor="system:demo", username=username, reason="demo setup"
            )
            user.set_password(f"{username}-demo")
            user.save(update_fields=["password"])
            user_roles_set(actor="system:demo", user=user, roles=[role], reason="demo setup")
            self.stdout.write(f"  {username:<7} {role:<9} password: {username}-demo")

    def _run(self, addr: str) -> None:
        py = sys.executable
        var = str(settings.VAR_DIR)
        worker = [py, "-m", "celery", "-A", "aiops_site", "worker", "--loglevel=INFO"]
        queues = [settings.CELERY_QUEUE_PREFIX + q for q in settings.TASK_QUEUES]
        train = settings.CELERY_QUEUE_PREFIX + "train"
        others = ",".join(q for q in queues if q != train)
        commands = {
            "web": [py, "manage.py", "runserver", addr, "--noreload"],
            "sandbox": [
                py,
                "manage.py",
                "sandbox",
                "--scenario",
                "busy-day",
                "--register",
                *self.sandbox_args,
            ],
            # Training gets a worker of its own, so it never holds up collection or a fix.
            "worker": [*worker, "--concurrency=2", "--hostname=demo-worker@%h", "-Q", others],
            "trainer": [*worker, "--concurrency=1", "--hostname=demo-train@%h", "-Q", train],
            "beat": [
                py,
                "-m",
                "celery",
                "-A",
                "aiops_site",
                "beat",
                "--loglevel=INFO",
                f"--schedule={var}/celerybeat-schedule",
                "--pidfile=",
            ],
        }
        procs: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, cmd in commands.items():
            procs[name] = _start(cmd)
        self.stdout.write(f"\nZeroTouch demo on http://{addr}/  (Ctrl-C stops everything)\n")
        restarts: dict[str, list[float]] = {name: [] for name in RESTARTED}
        try:
            while not stopping:
                for name, p in list(procs.items()):
                    if p.poll() is None:
                        continue
                    if name not in RESTARTED or not self._may_restart(restarts[name]):
                        self.stderr.write(f"{name} exited (code {p.returncode}); stopping the demo")
                        stopping = True
                        break
                    self.stderr.write(
                        f"{name} exited (code {p.returncode}); restarting it "
                        f"({len(restarts[name])} restart(s) in the last {RESTART_WINDOW} s)"
                    )
                    # What the dead one left running (a killed worker's pool children, still
                    # in its process group) goes with it; leases hand their work on.
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGKILL)
                    procs[name] = _start(commands[name])
                time.sleep(0.5)
        finally:
            self._stop(procs)

    @staticmethod
    def _may_restart(times: list[float]) -> bool:
        """At most RESTART_LIMIT restarts a minute: a worker that dies at once every time has
        a cause a restart will not fix."""
        now = time.monotonic()
        times[:] = [t for t in times if now - t < RESTART_WINDOW]
        if len(times) >= RESTART_LIMIT:
            return False
        times.append(now)
        return True

    def _stop(self, procs: dict[str, subprocess.Popen]) -> None:
        self.stdout.write("\nstopping web, workers and beat…")
        for p in procs.values():
            if p.poll() is None:
                # The leader only: Celery's warm shutdown lets its pool finish running tasks.
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.stdout.write("stopped.")
