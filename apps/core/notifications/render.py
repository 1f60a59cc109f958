"""What a notification looks like on each channel, its signature, and quiet hours. Pure: no
Django. An event here is the plain dict `Notification.as_event()` returns: id, event, label,
severity, title, body, fields, link, cluster_id, namespace, action_id, created_at (ISO text).

Contract:
- `signature(secret, body)` is "sha256=" + the hex HMAC-SHA256 of the exact body bytes sent.
- `webhook_body` and `digest_webhook_body` are compact JSON with sorted keys; the timestamp they
  carry is the one sent in the X-ZeroTouch-Timestamp header, so the signature covers it.
- `slack_message` is a Slack incoming-webhook payload: `text` (the fallback) and Block Kit
  `blocks`: a header "<severity> · <title>", the cause, the evidence, the proposed fix, other
  fields, and a link button.
- `in_quiet_hours` / `quiet_hours_end` read start and end as wall-clock times in a zone; an end
  before the start wraps over midnight (22:00-07:00).
"""

import hashlib
import hmac
import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

SEVERITIES = ("P1", "P2", "P3", "P4")
# During quiet hours these still go out at once; the rest waits or goes to the digest.
LOUD = ("P1", "P2")
SIGNATURE_HEADER = "X-ZeroTouch-Signature"
TIMESTAMP_HEADER = "X-ZeroTouch-Timestamp"
EVENT_HEADER = "X-ZeroTouch-Event"
HEADER_MAX = 150  # Slack's limit for a header block's text
SECTION_MAX = 2900  # under Slack's 3000 for a section's text
SPECIAL = ("cause", "evidence", "fix")


def rank(severity: str) -> int:
    """0 for P1 (most urgent) ... 3 for P4; unknown counts as the least urgent."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES) - 1


def at_least(severity: str, minimum: str) -> bool:
    """True when `severity` is as urgent as `minimum` or more (P1 is at least P3)."""
    return rank(severity) <= rank(minimum)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: compare in constant time."""
    return hmac.compare_digest(signature(secret, body), header or "")


def dumps(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def webhook_body(event: dict, *, sent_at: int) -> bytes:
    return dumps({"type": "notification", "sent_at": sent_at, "notification": event})


def digest_webhook_body(events: list[dict], *, sent_at: int) -> bytes:
    return dumps({"type": "digest", "sent_at": sent_at, "count": len(events), "items": events})


# --- Slack ----------------------------------------------------------------------------------


def _esc(text: str) -> str:
    """Slack's mrkdwn escapes: &, < and > only."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(value) -> str:
    if isinstance(value, list | tuple):
        return "\n".join(f"• {_text(v)}" for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _section(title: str, value) -> dict:
    text = f"*{title}*\n{_esc(_text(value))}"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_MAX]}}


def _headline(event: dict) -> str:
    """One line: an email subject or a Slack header (a line break in a mail header is refused)."""
    return " ".join(f"{event['severity']} · {event['title']}".splitlines())


def slack_message(event: dict) -> dict:
    fields = event.get("fields") or {}
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": _headline(event)[:HEADER_MAX]}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": _esc(_where(event))}],
        },
    ]
    cause = fields.get("cause") or event.get("body")
    if cause:
        blocks.append(_section("Cause", cause))
    if fields.get("evidence"):
        blocks.append(_section("Evidence", fields["evidence"]))
    if fields.get("fix"):
        blocks.append(_section("Proposed fix", fields["fix"]))
    others = [(k, v) for k, v in fields.items() if k not in SPECIAL and v not in (None, "")]
    if others:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{_esc(k)}*\n{_esc(_text(v))}"[:2000]}
                    for k, v in others[:10]
                ],
            }
        )
    if event.get("link"):
        label = "Review and approve" if event["event"] == "action.waiting" else "Open in ZeroTouch"
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": label},
                        "url": event["link"],
                        "style": "primary" if event["event"] == "action.waiting" else "danger",
                    }
                ],
            }
        )
    return {"text": _headline(event), "blocks": blocks}


def slack_digest(events: list[dict]) -> dict:
    lines = [
        f"• {_esc(_headline(e))} ({_esc(e['label'])}){' ' + _link(e) if e.get('link') else ''}"
        for e in events
    ]
    title = f"ZeroTouch digest: {len(events)} notification{'s' if len(events) != 1 else ''}"
    return {
        "text": title,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:HEADER_MAX]}},
            *(
                {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}}
                for chunk in _chunks(lines, 20)
            ),
        ],
    }


def _link(event: dict) -> str:
    return f"<{event['link']}|open>"


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [["(nothing)"]]


def _where(event: dict) -> str:
    parts = [event["label"]]
    fields = event.get("fields") or {}
    if fields.get("cluster"):
        parts.append(f"cluster {fields['cluster']}")
    if event.get("namespace"):
        parts.append(f"namespace {event['namespace']}")
    return " · ".join(parts)


# --- Email ----------------------------------------------------------------------------------


def email_message(event: dict) -> tuple[str, str]:
    """(subject, plain-text body)."""
    fields = event.get("fields") or {}
    lines = [_headline(event), _where(event), ""]
    if event.get("body"):
        lines += [event["body"], ""]
    for key, value in fields.items():
        if value not in (None, ""):
            lines.append(f"{key}: {_text(value)}")
    if event.get("link"):
        lines += ["", event["link"]]
    return f"[ZeroTouch] {_headline(event)}"[:200], "\n".join(lines) + "\n"


def email_digest(events: list[dict]) -> tuple[str, str]:
    lines = [f"{_headline(e)} ({e['label']}) {e.get('link') or ''}".rstrip() for e in events]
    subject = f"[ZeroTouch] digest: {len(events)} notification{'s' if len(events) != 1 else ''}"
    return subject, "\n".join(lines) + "\n"


# --- Quiet hours ----------------------------------------------------------------------------


def in_quiet_hours(start: time | None, end: time | None, zone: str, now: datetime) -> bool:
    if start is None or end is None or start == end:
        return False
    local = now.astimezone(ZoneInfo(zone)).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end  # over midnight


def quiet_hours_end(start: time, end: time, zone: str, now: datetime) -> datetime:
    """When the quiet hours `now` falls in end (an aware datetime in `zone`)."""
    local = now.astimezone(ZoneInfo(zone))
    candidate = datetime.combine(local.date(), end, tzinfo=ZoneInfo(zone))
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate
