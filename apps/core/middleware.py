import ipaddress
import re

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse
from django.shortcuts import resolve_url
from django.utils import timezone

from . import context, timezones
from .selectors import preference_zone

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class HealthProbeMiddleware:
    """First in MIDDLEWARE: answers the probes before host validation, so a kubelet that sends
    the pod IP as Host gets an answer, not ALLOWED_HOSTS' 400. `/livez` does no I/O (liveness:
    the process serves requests); `/health` also runs `SELECT 1` (readiness: this pod can reach
    its database). Both say nothing else about the installation."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in ("GET", "HEAD") or request.path not in ("/health", "/livez"):
            return self.get_response(request)
        if request.path == "/health":
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
            except DatabaseError:
                return HttpResponse("database unavailable", content_type="text/plain", status=503)
        return HttpResponse("ok", content_type="text/plain")


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
    """The client's address for the audit log: behind N trusted proxies the Nth entry from the
    right of X-Forwarded-For (ports and brackets removed), else the socket's address."""
    hops = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if hops:
        chain = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",")]
        if len(chain) >= hops and (ip := _parse_ip(chain[-hops])):
            return ip
    return _parse_ip(request.META.get("REMOTE_ADDR", ""))


def _parse_ip(text: str) -> str | None:
    text = text.strip()
    if text.startswith("["):  # [v6]:port
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


class HtmxLoginRedirectMiddleware:
    """When a session ends, an htmx request would swap the login page into a fragment. Tell
    htmx to load the login page as a whole page instead."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        login = resolve_url(settings.LOGIN_URL)
        if (
            getattr(request, "htmx", False)
            and response.status_code == 302
            and response.get("Location", "").startswith(login)
        ):
            return HttpResponse(headers={"HX-Redirect": response["Location"]})
        return response


class ViewerTimezoneMiddleware:
    """Show every wall-clock time in the viewer's zone (timezones.viewer_zone_name): Django's
    date filters render in the zone activated here, and request.viewer_zone names it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        chosen = preference_zone(user) if user is not None and user.is_authenticated else ""
        name, _ = timezones.viewer_zone_name(chosen=chosen, browser=timezones.browser_zone(request))
        request.viewer_zone = name
        timezone.activate(timezones.zone_named(name) or timezone.get_default_timezone())
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
