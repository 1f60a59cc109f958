"""Real servers on loopback that notifications are sent to: an HTTP receiver (a signed webhook
or a Slack-shaped incoming webhook) and an SMTP server (aiosmtpd).

The HTTP receiver checks what it is sent the way the other end would: a webhook receiver
verifies the HMAC-SHA256 signature over the raw body; the Slack-shaped one answers 400
`invalid_blocks` to a payload whose blocks Slack would refuse. Answers come from `responses`
(status codes, first in first out; a 3xx points to `<url>/moved` on itself), then 200; with
`raw` set, it answers those bytes instead of HTTP."""

import hashlib
import hmac
import json
import socket
import threading
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

BLOCK_TYPES = {"header", "section", "context", "actions", "divider"}


@dataclass
class Received:
    path: str
    headers: Message  # case-insensitive, as HTTP header names are
    body: bytes
    signature_ok: bool | None  # None: no secret to check against

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    secret: str = ""
    slack: bool = False
    requests: list[Received] = field(default_factory=list)
    responses: list[int] = field(default_factory=list)
    raw: bytes = b""  # answered instead of HTTP when set (a receiver that is not an HTTP server)

    def start(self) -> "Receiver":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def reset(self) -> None:
        self.requests.clear()
        self.responses.clear()


def slack_problem(payload: dict) -> str:
    """What Slack would refuse in an incoming-webhook payload ("" when nothing)."""
    if not isinstance(payload.get("text"), str) or not isinstance(payload.get("blocks"), list):
        return "a text fallback and a list of blocks are required"
    for block in payload["blocks"]:
        if block.get("type") not in BLOCK_TYPES:
            return f"unknown block type {block.get('type')!r}"
        if block["type"] == "header":
            text = block.get("text") or {}
            if text.get("type") != "plain_text" or not 0 < len(text.get("text", "")) <= 150:
                return "a header is plain_text of 1-150 characters"
        if block["type"] == "section" and not (block.get("text") or block.get("fields")):
            return "a section needs text or fields"
        if block["type"] == "actions":
            for el in block.get("elements", []):
                if el.get("type") == "button" and not el.get("url", "").startswith("http"):
                    return "a link button needs an http(s) url"
    return ""


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            ok = None
            if receiver.secret:
                expected = (
                    "sha256=" + hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
                )
                ok = hmac.compare_digest(expected, self.headers.get("X-ZeroTouch-Signature", ""))
            receiver.requests.append(Received(self.path, self.headers, body, ok))
            if receiver.raw:
                self.wfile.write(receiver.raw)
                self.close_connection = True
                return
            status, answer = 200, b"ok"
            if receiver.responses:
                status = receiver.responses.pop(0)
                answer = b"try again" if status >= 500 else answer
            elif ok is False:
                status, answer = 401, b"bad signature"
            elif receiver.slack and (problem := slack_problem(json.loads(body or b"{}"))):
                status, answer = 400, b"invalid_blocks: " + problem.encode()
            self.send_response(status)
            if 300 <= status < 400:  # to a path of its own, so a followed redirect shows
                self.send_header("Location", receiver.url + "/moved")
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST  # where a followed redirect arrives

        def log_message(self, *args):  # quiet
            pass

    return Handler


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        self.messages.append(
            {
                "raw": raw,
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
            }
        )
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on loopback; `messages` holds what it accepted."""

    def __init__(self) -> None:
        self.mailbox = _Mailbox()
        self.port = free_port()
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[dict]:
        return self.mailbox.messages

    def start(self) -> "SmtpServer":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
