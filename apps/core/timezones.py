"""The viewer's time zone: wall-clock times on every page are shown in it.

Chosen on the Account page (a Preference), else the browser's (static/js/app.js writes it
into the `zt_tz` cookie), else settings.TIME_ZONE. A cluster's own clock is another matter:
a real cluster's clock is wall time, the sandbox's runs on its own (apps/core/clock.py)."""

from functools import cache
from urllib.parse import unquote
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings

COOKIE = "zt_tz"


@cache
def known() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA zone `name`, or None when there is no such zone."""
    return ZoneInfo(name) if name in known() else None


def browser_zone(request) -> str:
    """The zone the browser reported in the cookie ("" when none; percent-escapes undone)."""
    return unquote(request.COOKIES.get(COOKIE, ""))


def viewer_zone_name(*, chosen: str, browser: str) -> tuple[str, str]:
    """(zone name, where it came from: "profile", "browser" or "server")."""
    if zone_named(chosen):
        return chosen, "profile"
    if zone_named(browser):
        return browser, "browser"
    return settings.TIME_ZONE, "server"
