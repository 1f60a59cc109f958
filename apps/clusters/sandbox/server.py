"""Serve a Sandbox over HTTP as a Kubernetes API server, and write a kubeconfig for it.

Two bearer tokens: the admin token may do everything, the viewer token only reads (403 on
writes, as RBAC would answer). /sandbox/* is a small control API for tests and benchmarks.
"""

import base64
import contextlib
import json
import secrets
import ssl
import threading
import time
from datetime import UTC
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from . import api
from .prometheus import exposition
from .selectors import parse_field_selector, parse_label_selector
from .tables import as_table, wants_table
from .tls import make_certificates, server_context

WATCH_MAX_SECONDS = 300


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        sandbox,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        speed: float = 1.0,
        admin_token: str | None = None,
        viewer_token: str | None = None,
        metrics_api: bool = True,
    ):
        super().__init__((host, port), Handler)
        self.ca_pem, cert, key = make_certificates(host)
        self.socket = server_context(cert, key).wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )
        self.sandbox = sandbox
        self.speed = speed
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self.viewer_token = viewer_token or secrets.token_urlsafe(24)
        self.nobody_token = secrets.token_urlsafe(24)  # authenticated, allowed nothing
        self.metrics_api = metrics_api  # False: as a cluster without metrics-server
        self._stop = threading.Event()
        self._ticker = None
        self.connections: set = set()  # open keep-alive connections, closed on stop

    def handle_error(self, request, client_address):
        import sys

        if isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError | TimeoutError):
            return  # a client that could not speak TLS or went away: nothing to report
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"https://{host}:{port}"

    def start(self) -> "SandboxServer":
        threading.Thread(target=self.serve_forever, name="sandbox-http", daemon=True).start()
        if self.speed > 0:
            self._ticker = threading.Thread(target=self._tick, name="sandbox-clock", daemon=True)
            self._ticker.start()
        return self

    def stop(self) -> None:
        """Stop like a server that went away: no new connections, open ones cut."""
        self._stop.set()
        self.shutdown()
        self.server_close()
        for conn in list(self.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(2)

    def _tick(self) -> None:
        """Real time (times `speed`): each tick moves the simulation on by the wall time since
        the last one, so a manual /sandbox/advance shifts the clock instead of pausing it."""
        last = time.monotonic()
        while not self._stop.wait(0.25):
            now = time.monotonic()
            step, last = (now - last) * self.speed, now
            with self.sandbox.lock:
                self.sandbox.run_until(self.sandbox.now + _seconds(step))

    def write_kubeconfig(self, path: Path, name: str = "sandbox") -> Path:
        users = [
            {"name": f"{name}-admin", "user": {"token": self.admin_token}},
            {"name": f"{name}-viewer", "user": {"token": self.viewer_token}},
            {"name": f"{name}-nobody", "user": {"token": self.nobody_token}},
        ]
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [
                {
                    "name": name,
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
                    },
                }
            ],
            "users": users,
            "contexts": [
                {
                    "name": name,
                    "context": {"cluster": name, "user": f"{name}-admin", "namespace": "default"},
                },
                *(
                    {
                        "name": f"{name}-{role}",
                        "context": {"cluster": name, "user": f"{name}-{role}"},
                    }
                    for role in ("viewer", "nobody")
                ),
            ],
            "current-context": name,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
        tmp.chmod(0o600)
        tmp.replace(path)
        return path


def _seconds(n: float):
    from datetime import timedelta

    return timedelta(seconds=n)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes on a keep-alive connection: with Nagle's
    # algorithm on, the body waits for the client's delayed ACK (~40 ms a call).
    disable_nagle_algorithm = True
    server: SandboxServer

    def setup(self):
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self):
        self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def date_time_string(self, timestamp=None):
        """The Date header carries the cluster's (simulated) clock, as a real one does."""
        return format_datetime(self.server.sandbox.now.astimezone(UTC), usegmt=True)

    def log_message(self, format, *args):
        pass  # quiet: the sandbox answers thousands of requests in a benchmark

    # Every verb goes through one path.
    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_PATCH(self):
        self._serve("PATCH")

    def do_DELETE(self):
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        role = self._role()
        if split.path == "/metrics":
            return self._send(200, exposition(self.server.sandbox), "text/plain; version=0.0.4")
        if role is None:
            return self._send_json(401, api.ApiError(401, "Unauthorized", "Unauthorized").status())
        if split.path.startswith("/sandbox/"):
            return self._control(method, split.path, body, role)
        req = api.Request(
            method,
            split.path,
            api.parse_query(split.query),
            {k.lower(): v for k, v in self.headers.items()},
            body,
            readonly=role == "viewer",
            nothing=role == "nobody",
            metrics_api=self.server.metrics_api,
        )
        sb = self.server.sandbox
        with sb.lock:
            resp = api.handle(sb, req)
            if resp.watch is None and not isinstance(resp.body, bytes):
                payload = json.dumps(resp.body, separators=(",", ":")).encode()
            else:
                payload = resp.body  # raw text (a log), or a watch
        if resp.watch is not None:
            return self._watch(req, resp.watch)
        if resp.follow is not None:
            return self._follow(payload, resp.follow)
        ctype = resp.headers.get("Content-Type", "application/json")
        self._send(resp.status, payload, ctype, resp.headers)

    def _role(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if token and secrets.compare_digest(token, self.server.admin_token):
            return "admin"
        if token and secrets.compare_digest(token, self.server.viewer_token):
            return "viewer"
        if token and secrets.compare_digest(token, self.server.nobody_token):
            return "nobody"
        return None

    def _send(
        self, status: int, payload: bytes | str, ctype: str, headers: dict | None = None
    ) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for name, value in (headers or {}).items():  # Warning, ETag
            if name != "Content-Type":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_json(self, status: int, body) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    # --- watch ----------------------------------------------------------------------------
    def _watch(self, req: api.Request, spec: dict) -> None:
        sb, res, ns = self.server.sandbox, spec["res"], spec["namespace"]
        labels = parse_label_selector(req.query.get("labelSelector", ""))
        fields = parse_field_selector(req.query.get("fieldSelector", ""))
        timeout = min(int(req.query.get("timeoutSeconds") or WATCH_MAX_SECONDS), WATCH_MAX_SECONDS)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        table = wants_table(req.headers.get("accept", ""))

        def shown(obj: dict) -> dict:
            """As kubectl get -w asks: each event's object a one-row Table, its columns kept."""
            rv = obj["metadata"]["resourceVersion"]
            return as_table(res, [obj], sb, list_rv=rv) if table else obj

        def wanted(obj: dict) -> bool:
            meta = obj["metadata"]
            return (
                (not ns or meta.get("namespace") == ns)
                and labels.matches(meta.get("labels", {}))
                and fields.matches(obj)
            )

        deadline = time.monotonic() + timeout
        rv_param = req.query.get("resourceVersion", "")
        send_initial = req.query.get("sendInitialEvents") == "true" or rv_param in ("", "0")
        with sb.lock:
            last = sb.store.rv if send_initial else int(rv_param)
            initial = (
                [
                    json.dumps({"type": "ADDED", "object": shown(o)})
                    for o in sb.store.list(res.key, ns or None)
                    if wanted(o)
                ]
                if send_initial
                else []
            )
            if req.query.get("sendInitialEvents") == "true":
                # The WatchList protocol: a bookmark marks the end of the initial events.
                initial.append(
                    json.dumps(
                        {
                            "type": "BOOKMARK",
                            "object": {
                                "kind": res.kind,
                                "apiVersion": res.api_version,
                                "metadata": {
                                    "resourceVersion": str(last),
                                    "annotations": {"k8s.io/initial-events-end": "true"},
                                },
                            },
                        }
                    )
                )
        try:
            for line in initial:
                self._chunk(line)
            while time.monotonic() < deadline:
                with sb.lock:
                    sb.store.changed.wait(timeout=1.0)
                    batch = [
                        (rv, kind, obj)
                        for rv, kind, key, obj in sb.store.changes_since(last)
                        if key == res.key
                    ]
                    last = sb.store.rv
                    lines = [
                        json.dumps({"type": kind, "object": shown(obj)})
                        for _, kind, obj in batch
                        if wanted(obj)
                    ]
                for line in lines:
                    self._chunk(line)
            self._chunk("")
        except (BrokenPipeError, ConnectionResetError):
            return

    # --- logs -f ---------------------------------------------------------------------------
    def _follow(self, first: bytes, cursor) -> None:
        """A container's log so far, then its new lines as the clock moves, until its run
        ends, the client goes away or WATCH_MAX_SECONDS pass."""
        sb = self.server.sandbox
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = time.monotonic() + WATCH_MAX_SECONDS
        try:
            if first:
                self._raw_chunk(first)
            while not cursor.done and time.monotonic() < deadline:
                if self.server._stop.wait(0.2):
                    return
                with sb.lock:
                    data = api.follow_more(sb, cursor)
                if data:
                    self._raw_chunk(data)
            self._raw_chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            return

    def _raw_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _chunk(self, line: str) -> None:
        data = (line + "\n").encode() if line else b""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # --- control API ----------------------------------------------------------------------
    def _control(self, method: str, path: str, body: bytes, role: str) -> None:
        sb = self.server.sandbox
        if role != "admin":
            return self._send_json(403, {"detail": "the control API needs the admin token"})
        if path == "/sandbox/advance" and method == "POST":
            try:
                seconds = float(json.loads(body or b"{}").get("seconds", 0))
            except (ValueError, AttributeError):
                return self._send_json(400, {"detail": 'body: {"seconds": N}'})
            if not 0 <= seconds <= 7 * 86400:
                return self._send_json(400, {"detail": "seconds must be 0..604800"})
            sb.advance(seconds)
        with sb.lock:
            if path in ("/sandbox/state", "/sandbox/advance"):
                out = {
                    "now": sb.iso(),
                    "started": sb.iso(sb.started),
                    "seed": sb.seed,
                    "scenario": sb.scenario.name,
                    "speed": self.server.speed,
                    "pods": sb.store.count("pods"),
                    "nodes": sb.store.count("nodes"),
                }
            elif path == "/sandbox/ground-truth":
                out = {
                    "scenario": sb.scenario.name,
                    "started": sb.iso(sb.started),
                    "faults": [f.as_dict() for f in sb.scenario.faults],
                    "jobs": [j.as_dict() for j in sb.scenario.jobs],
                    "failures": list(sb.failures),
                }
            elif path == "/sandbox/mutations":
                out = {
                    "total": sum(sb.mutations.values()),
                    "by_call": dict(sb.mutations),
                    "effective": dict(sb.effective_mutations),
                }
            else:
                return self._send_json(404, {"detail": f"no control endpoint {path}"})
        self._send_json(200, out)
