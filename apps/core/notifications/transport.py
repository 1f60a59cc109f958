"""Sending one message to one channel: an HTTP POST (signed webhook, Slack) or an email through
Django's mail backend. Never called inside a transaction. Returns an Outcome for a receiver's
or a network's failure; anything else it raises is the caller's to record (`scrub` first: an
exception's text may carry the channel's URL or its secret). Redirects are not followed: the
signature headers go to the configured URL only."""

import http.client
import ipaddress
import smtplib
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.core.mail import send_mail

from . import render
from .models import ChannelKind, NotificationChannel


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retry: bool  # worth another try (5xx, 429, timeout, connection refused, SMTP trouble)
    code: int | None = None
    error: str = ""


def send(channel: NotificationChannel, events: list[dict], *, digest: bool) -> Outcome:
    if channel.kind == ChannelKind.EMAIL:
        subject, text = render.email_digest(events) if digest else render.email_message(events[0])
        return _email(channel, subject, text)
    if channel.kind == ChannelKind.SLACK:
        payload = render.slack_digest(events) if digest else render.slack_message(events[0])
        return _post(channel.url, render.dumps(payload), {})
    sent_at = int(time.time())
    if digest:
        body = render.digest_webhook_body(events, sent_at=sent_at)
    else:
        body = render.webhook_body(events[0], sent_at=sent_at)
    headers = {
        render.SIGNATURE_HEADER: render.signature(channel.secret, body),
        render.TIMESTAMP_HEADER: str(sent_at),
        render.EVENT_HEADER: "digest" if digest else events[0]["event"],
    }
    return _post(channel.url, body, headers)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx reaches the caller as an HTTPError


_opener = urllib.request.build_opener(_NoRedirect)


def scrub(text: str, channel: NotificationChannel) -> str:
    """`text` without the channel's URL, its user, password, path and query (and their longer
    parts, where tokens hide), or its secret."""
    parts = urlsplit(channel.url)
    pieces = [channel.url, channel.secret, parts.username, parts.password, parts.query]
    pieces.append(parts.path + ("?" + parts.query if parts.query else ""))
    pieces += [value for _, value in parse_qsl(parts.query)]
    pieces += [segment for segment in parts.path.split("/") if len(segment) >= 8]
    for piece in sorted({p for p in pieces if p and p != "/"}, key=len, reverse=True):
        text = text.replace(piece, "…")
    return text


def _url_problem(url: str) -> str:
    """What makes a stored URL unusable ("" when nothing): the form refuses these now."""
    if not url.startswith(("http://", "https://")):
        return "the channel's URL is not http(s)"
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return "the channel's URL carries a user or password: edit the channel"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "the channel's URL has a port out of range: edit the channel"
    if _link_local(parts.hostname or "", port):
        return (
            "the channel's host resolves to a link-local address (where cloud metadata "
            "services answer): refused"
        )
    return ""


def _link_local(host: str, port: int) -> bool:
    """Whether `host` resolves to a link-local address (169.254.0.0/16, fe80::/10: the cloud
    metadata services). A name that does not resolve now is left to the send, which fails and
    is retried. (A name that changes its address between this check and the send is not
    caught: narrow the default worker's egress with its NetworkPolicy.)"""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    return any(ipaddress.ip_address(info[4][0].split("%")[0]).is_link_local for info in infos)


def _post(url: str, body: bytes, headers: dict) -> Outcome:
    if problem := _url_problem(url):
        return Outcome(ok=False, retry=False, error=problem)
    request = urllib.request.Request(  # noqa: S310 (scheme checked by _url_problem)
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "ZeroTouch", **headers},
    )
    try:
        with _opener.open(request, timeout=settings.NOTIFY_TIMEOUT_SECONDS) as response:
            return Outcome(ok=True, retry=False, code=response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        if 300 <= exc.code < 400:
            error = f"HTTP {exc.code} {exc.reason}: redirects are not followed"
            return Outcome(ok=False, retry=False, code=exc.code, error=error)
        retry = exc.code >= 500 or exc.code == 429
        return Outcome(ok=False, retry=retry, code=exc.code, error=f"HTTP {exc.code} {exc.reason}")
    except http.client.InvalidURL:
        raise  # the channel's URL: the caller records it, scrubbed
    except http.client.HTTPException as exc:  # an answer that is not HTTP, or cut short
        return Outcome(ok=False, retry=True, error=f"{type(exc).__name__}: {str(exc)[:200]}")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Outcome(ok=False, retry=True, error=f"{type(exc).__name__}: {reason}")


def _email(channel: NotificationChannel, subject: str, text: str) -> Outcome:
    recipients = [r.strip() for r in channel.recipients.split(",") if r.strip()]
    try:
        send_mail(
            subject,
            text,
            settings.DEFAULT_FROM_EMAIL,
            recipients,
            fail_silently=False,
        )
    except smtplib.SMTPRecipientsRefused as exc:
        return Outcome(ok=False, retry=False, error=f"recipients refused: {exc.recipients}")
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(ok=False, retry=True, error=f"{type(exc).__name__}: {exc}")
    return Outcome(ok=True, retry=False, code=250)
