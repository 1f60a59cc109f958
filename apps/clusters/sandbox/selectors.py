"""Field selectors for the sandbox API server (`?fieldSelector=`), and the label selectors it
shares with the rest of the product (apps/clusters/labels.py).

List and watch requests filter with `labelSelector`/`fieldSelector`. The field grammar follows
apimachinery's `fields.ParseSelector` closely enough that kubectl's selectors behave as on a
real cluster, and malformed ones fail with a message instead of silently matching everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from apps.clusters.labels import LabelSelector as LabelSelector
from apps.clusters.labels import SelectorError as SelectorError
from apps.clusters.labels import format_label_selector as format_label_selector
from apps.clusters.labels import parse_label_selector as parse_label_selector
from apps.clusters.labels import selector_from_match as selector_from_match

_FIELD_PATH_RE = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


# --- Field selectors -------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRequirement:
    """`path` compared against `value` as a string; `operator` is `=` or `!=`."""

    path: str
    operator: str
    value: str

    def matches(self, obj: dict) -> bool:
        actual = _field_string(obj, self.path)
        return (actual == self.value) == (self.operator == "=")

    def __str__(self) -> str:
        return f"{self.path}{self.operator}{self.value}"


@dataclass(frozen=True)
class FieldSelector:
    """All field requirements must hold; no requirements matches every object."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: dict) -> bool:
        return all(req.matches(obj) for req in self.requirements)

    @property
    def paths(self) -> tuple[str, ...]:
        """Paths in use, so the server can reject those a kind does not index."""
        return tuple(req.path for req in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(req) for req in self.requirements)


def parse_field_selector(text: str) -> FieldSelector:
    """Parse `?fieldSelector=`; empty terms are skipped, as apimachinery does."""
    terms = [term.strip() for term in _split_unescaped(text, ",")]
    return FieldSelector(tuple(_field_requirement(text, term) for term in terms if term))


def _field_requirement(text: str, term: str) -> FieldRequirement:
    for operator in ("!=", "==", "="):
        index = _find_unescaped(term, operator)
        if index >= 0:
            path = term[:index].strip()
            value = _unescape(term[index + len(operator) :].strip())
            if not _FIELD_PATH_RE.fullmatch(path):
                raise SelectorError(f"invalid field selector {text!r}: invalid path {path!r}")
            return FieldRequirement(path, "!=" if operator == "!=" else "=", value)
    raise SelectorError(f"invalid field selector {text!r}: term {term!r} needs '=', '==' or '!='")


def _split_unescaped(text: str, separator: str) -> list[str]:
    """Split on `separator` unless backslash-escaped (`\\,` keeps a comma in a value)."""
    parts: list[str] = []
    start = 0
    index = _find_unescaped(text, separator)
    while index >= 0:
        parts.append(text[start : start + index])
        start += index + 1
        index = _find_unescaped(text[start:], separator)
    parts.append(text[start:])
    return parts


def _find_unescaped(text: str, needle: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text.startswith(needle, i):
            return i
        else:
            i += 1
    return -1


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _field_string(obj: Any, path: str) -> str:
    """Resolve a dotted path and render it as the API server would compare it."""
    value = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    return _stringify(value)


def _stringify(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return ""
