"""Headless Chromium (Debian's package) through Playwright: where it is, where screenshots go,
and how a persona logs in. The `browser` and `page` fixtures are in tests.support.fixtures."""

import os
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# `make screenshots` points this at docs/screenshots; otherwise they land under var/test.
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "var/test/screenshots"))


def browser_login(page, live_server, username):
    """Log a persona in through the login form (its password is `<username>-pass`)."""
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"{username}-pass")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
