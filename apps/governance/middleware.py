import re

from django.conf import settings

from . import context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIdMiddleware:
    """Give every request an id (X-Request-ID if sane, else new), echo it back, and bind it with
    the client IP for the audit log."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _REQUEST_ID.match(incoming) else ""
        with context.bound(request_id=rid, client_ip=client_ip(request)) as ctx:
            request.request_id = ctx.request_id
            response = self.get_response(request)
        response["X-Request-ID"] = ctx.request_id
        return response


def client_ip(request) -> str | None:
    # Behind N trusted proxies the client is the Nth address from the right of X-Forwarded-For.
    hops = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if hops:
        chain = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",") if p]
        if len(chain) >= hops:
            return chain[-hops] or None
    return request.META.get("REMOTE_ADDR") or None
