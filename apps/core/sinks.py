"""Where audit checkpoints go, outside the database: the operator chooses one or more sinks in
AUDIT_CHECKPOINT_SINKS (comma-separated):

- `file:///var/lib/zerotouch/audit-checkpoints.jsonl` — appended with O_APPEND and fsync'd
  (make it append-only with `chattr +a`, or put it on storage the database host cannot reach);
  `audit_verify` reads it back;
- `syslog://host:514` (UDP), `syslog+tcp://host:601` or `syslog:///dev/log` — one RFC 5424
  line per checkpoint to a log server that keeps its own copy;
- `https://...` (or `http://` on a trusted network) — one JSON POST per checkpoint.

Only a file sink can be read back here; with syslog or HTTP only, `audit_verify --checkpoints
FILE` takes the lines exported from there. Pure: no Django.
"""

import os
import socket
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from .anchor import Checkpoint, CheckpointError, parse

TIMEOUT = 5.0  # seconds for a network sink


class SinkError(Exception):
    pass


@dataclass(frozen=True)
class Sink:
    url: str

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def path(self) -> Path | None:
        return Path(urlsplit(self.url).path) if self.scheme == "file" else None


SCHEMES = ("file", "syslog", "syslog+tcp", "http", "https")


def parse_sinks(text: str) -> list[Sink]:
    """The sinks named in AUDIT_CHECKPOINT_SINKS; raises SinkError naming a bad one."""
    out = []
    for url in (u.strip() for u in text.split(",")):
        if not url:
            continue
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise SinkError(f"audit checkpoint sink {url!r}: use one of {', '.join(SCHEMES)}")
        if parts.scheme == "file" and not parts.path.startswith("/"):
            raise SinkError(f"audit checkpoint sink {url!r}: a file sink needs an absolute path")
        if parts.scheme in ("http", "https", "syslog+tcp") and not parts.hostname:
            raise SinkError(f"audit checkpoint sink {url!r}: needs a host")
        out.append(Sink(url))
    return out


def write(sink: Sink, cp: Checkpoint) -> None:
    """Deliver one checkpoint; raises SinkError (the caller records the failure)."""
    try:
        if sink.scheme == "file":
            _append(sink.path, cp.line())
        elif sink.scheme.startswith("syslog"):
            _syslog(sink, cp.line())
        else:
            _post(sink.url, cp.line())
    except (OSError, ValueError) as exc:
        raise SinkError(f"{sink.url}: {type(exc).__name__}: {exc}") from exc


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _syslog(sink: Sink, line: str) -> None:
    # RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG; facility auth (4), notice (5).
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    host = socket.gethostname()[:255] or "-"
    msg = f"<37>1 {stamp} {host} zerotouch - audit-checkpoint - {line}".encode()
    parts = urlsplit(sink.url)
    if parts.hostname is None:  # syslog:///dev/log: the local daemon's socket
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.settimeout(TIMEOUT)
            s.connect(parts.path)
            s.send(msg)
    elif sink.scheme == "syslog+tcp":  # RFC 6587 octet counting
        with socket.create_connection((parts.hostname, parts.port or 601), TIMEOUT) as s:
            s.sendall(f"{len(msg)} ".encode() + msg)
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(msg, (parts.hostname, parts.port or 514))


def _post(url: str, line: str) -> None:
    # parse_sinks admits only http:// and https:// here (never file: or custom schemes).
    request = urllib.request.Request(  # noqa: S310
        url, data=line.encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310  # nosec B310
        if response.status >= 300:
            raise ValueError(f"answered {response.status}")


def read_file(path: Path) -> tuple[list[Checkpoint], list[str]]:
    """The checkpoints in a file sink (or an export), and the lines that are not one."""
    if not path.exists():
        return [], []
    good, bad = [], []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            good.append(parse(line))
        except CheckpointError as exc:
            bad.append(f"{path}:{n}: {exc}")
    return good, bad
