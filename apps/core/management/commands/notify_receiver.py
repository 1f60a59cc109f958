"""A notification receiver on loopback for demos and set-up checks: it prints every message
ZeroTouch sends it and, given the channel's secret, checks its signature as a real receiver
must.

    manage.py notify_receiver --port 9009 --secret "<the channel's signing secret>"

then add a "Signed webhook" channel with URL http://127.0.0.1:9009/ on the Notifications page
and press "Send a test"."""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.core.management.base import BaseCommand

from apps.core.notifications import render


class Command(BaseCommand):
    help = "Listen on loopback and print the notifications ZeroTouch delivers (Ctrl-C stops)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=9009)
        parser.add_argument("--secret", default="", help="the channel's signing secret")

    def handle(self, *args, port: int, secret: str, **options):
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self, secret))
        self.stdout.write(f"Listening on http://127.0.0.1:{port}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()

    def show(self, headers, body: bytes, secret: str) -> int:
        """Print one delivery; the status to answer (401 for a bad signature)."""
        signature = headers.get(render.SIGNATURE_HEADER, "")
        if secret:
            ok = render.signature_valid(secret, body, signature)
            verdict = "signature OK" if ok else "BAD SIGNATURE (refused with 401)"
        else:
            ok, verdict = True, "signature not checked (no --secret)"
        event = headers.get(render.EVENT_HEADER, "slack/other")
        self.stdout.write(f"--- {event} · {verdict}")
        try:
            self.stdout.write(json.dumps(json.loads(body), indent=2, ensure_ascii=False))
        except ValueError:
            self.stdout.write(body.decode(errors="replace"))
        return 200 if ok else 401


def _handler(command: Command, secret: str):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = command.show(self.headers, body, secret)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler
