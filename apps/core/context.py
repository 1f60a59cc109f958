"""Who/where a change comes from, for the audit log: a request id and the client IP.

Set by RequestIdMiddleware for web requests and by tasks for Celery work; read by audit_record.
"""

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class AuditContext:
    request_id: str = ""
    client_ip: str | None = None


_current: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar(
    "audit_context", default=None
)


def current() -> AuditContext:
    return _current.get() or AuditContext()


@contextmanager
def bound(*, request_id: str = "", client_ip: str | None = None) -> Iterator[AuditContext]:
    ctx = AuditContext(request_id=request_id or uuid.uuid4().hex, client_ip=client_ip)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
