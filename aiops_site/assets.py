"""plotly.css, read from the installed plotly.min.js.

plotly.js injects its CSS as inline <style> rules, which our CSP (no 'unsafe-inline') blocks.
It skips that when the page has an element with id "plotly.js-style-global" and the class
"no-inline-styles"; the page then links this stylesheet under that id instead. Built from the
same file the browser runs, so it always matches the plotly version installed. Map styles
(MapLibre), which we do not use, are skipped the same way (plotly_style_guard_ids).
"""

import functools
import re
from pathlib import Path

import plotly
from django.http import HttpResponse
from django.views.decorators.http import require_GET

RULE = re.compile(r'"([^"]+)":(?:\'([^\']*)\'|"([^"]*)")')


@functools.cache
def plotly_css() -> str:
    js = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text()
    start = js.find('{"X,X div"')
    if start < 0:
        return "/* plotly.js CSS table not found in this plotly version */\n"
    depth, end = 0, start
    for end in range(start, len(js)):
        depth += {"{": 1, "}": -1}.get(js[end], 0)
        if depth == 0:
            break
    rules = []
    for key, single, double in RULE.findall(js[start : end + 1]):
        selector = (
            re.sub(r"^,", " ,", key)
            .replace("X", ".js-plotly-plot .plotly")
            .replace("Y", ".plotly-notifier")
        )
        rules.append(f"{selector}{{{single or double}}}")
    return "\n".join(rules) + "\n"


@functools.cache
def plotly_style_guard_ids() -> tuple[str, ...]:
    """Ids plotly.js checks before injecting a bundled <style> (e.g. MapLibre's CSS): an
    element with that id on the page tells it the styles are handled."""
    js = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text()
    pattern = r'getElementById\("([0-9a-f]{64})"\)\)\{var \w=document\.createElement\("style"\)'
    return tuple(dict.fromkeys(re.findall(pattern, js)))


@require_GET
def plotly_stylesheet(request):
    response = HttpResponse(plotly_css(), content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response
