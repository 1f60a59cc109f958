"""Kubernetes label selectors: the string form (`?labelSelector=`, `kubectl -l`) and the object
form (`matchLabels` + `matchExpressions`). Pure. The sandbox's API server filters lists with
it, and governance's guards match a workload's pods with it, so both read a selector the same
way. The grammar follows apimachinery's `labels.Parse` closely enough that kubectl's selectors
behave as on a real cluster; a malformed one fails with a message naming the offending part
instead of silently matching everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_DNS_SUBDOMAIN = r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?"
_KEY_RE = re.compile(rf"(?:{_DNS_SUBDOMAIN}/)?{_NAME}")
_VALUE_RE = re.compile(rf"(?:{_NAME})?")

_SPECIAL = "()!=,"
_SET_OPERATORS = {"in": "in", "notin": "notin"}
_MATCH_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


class SelectorError(ValueError):
    """A selector that cannot be parsed; the message names the offending part."""


# --- Label selectors -------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """One label requirement; `operator` is one of `=`, `!=`, `in`, `notin`, `exists`, `!`."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values  # "!=" and "notin"

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return f"!{self.key}"
        if self.operator in ("=", "!="):
            return f"{self.key}{self.operator}{self.values[0]}"
        return f"{self.key} {self.operator} ({','.join(sorted(self.values))})"


@dataclass(frozen=True)
class LabelSelector:
    """All requirements must hold; no requirements matches every object."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: dict[str, str] | None) -> bool:
        return all(req.matches(labels or {}) for req in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(req) for req in self.requirements)


def is_label_key(key) -> bool:
    return isinstance(key, str) and bool(_KEY_RE.fullmatch(key))


def is_label_value(value) -> bool:
    return isinstance(value, str) and bool(_VALUE_RE.fullmatch(value))


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the string form used by `?labelSelector=` and `kubectl -l`."""
    return LabelSelector(tuple(_LabelParser(text).parse()))


def _tokenize(text: str) -> list[str]:
    """Split into identifiers and the operator characters `( ) ! = , != ==`."""
    tokens: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif text.startswith(("!=", "=="), i):
            tokens.append(text[i : i + 2])
            i += 2
        elif char in _SPECIAL:
            tokens.append(char)
            i += 1
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in _SPECIAL:
                i += 1
            tokens.append(text[start:i])
    return tokens


def _is_identifier(lexeme: str | None) -> bool:
    return lexeme is not None and lexeme not in ("(", ")", "!", "=", "==", "!=", ",")


class _LabelParser:
    """Recursive-descent parser over the tokens; one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | None:
        lexeme = self.peek()
        self.pos += 1
        return lexeme

    def fail(self, problem: str) -> SelectorError:
        return SelectorError(f"invalid label selector {self.text!r}: {problem}")

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        if self.peek() is None:
            return requirements
        while True:
            requirements.append(self.requirement())
            lexeme = self.take()
            if lexeme is None:
                return requirements
            if lexeme != ",":
                raise self.fail(f"expected ',' between requirements, found {lexeme!r}")

    def requirement(self) -> Requirement:
        if self.peek() == "!":
            self.take()
            return Requirement(self.key(), "!")
        key = self.key()
        lexeme = self.peek()
        if lexeme is None or lexeme == ",":
            return Requirement(key, "exists")
        self.take()
        if lexeme in ("=", "==", "!="):
            return Requirement(key, "!=" if lexeme == "!=" else "=", (self.single_value(),))
        if lexeme in _SET_OPERATORS:
            return Requirement(key, _SET_OPERATORS[lexeme], self.value_set(lexeme))
        raise self.fail(f"expected an operator after key {key!r}, found {lexeme!r}")

    def key(self) -> str:
        lexeme = self.take()
        if not _is_identifier(lexeme):
            found = "end of input" if lexeme is None else repr(lexeme)
            raise self.fail(f"expected a label key, found {found}")
        return _check_key(lexeme, self.fail)

    def single_value(self) -> str:
        lexeme = self.peek()
        if lexeme is None or lexeme == ",":
            return ""  # `k=` selects an empty value
        if not _is_identifier(lexeme):
            raise self.fail(f"expected a value, found {lexeme!r}")
        self.take()
        return _check_value(lexeme, self.fail)

    def value_set(self, operator: str) -> tuple[str, ...]:
        if self.take() != "(":
            raise self.fail(f"expected '(' after {operator!r}")
        values: list[str] = []
        current = ""
        while True:
            lexeme = self.take()
            if lexeme is None:
                raise self.fail("unbalanced parentheses: missing ')'")
            if lexeme in (",", ")"):
                values.append(_check_value(current, self.fail))
                current = ""
                if lexeme == ")":
                    break
            elif _is_identifier(lexeme) and not current:
                current = lexeme
            else:
                raise self.fail(f"unexpected {lexeme!r} in value set")
        if values == [""]:
            raise self.fail(f"values set for {operator!r} can't be empty")
        return tuple(values)


_Fail = Callable[[str], SelectorError]


def _check_key(key: str, fail: _Fail) -> str:
    if not _KEY_RE.fullmatch(key):
        raise fail(f"invalid label key {key!r}")
    return key


def _check_value(value: str, fail: _Fail) -> str:
    if not _VALUE_RE.fullmatch(value):
        raise fail(f"invalid label value {value!r}")
    return value


def selector_from_match(spec: dict | None) -> LabelSelector:
    """Build a selector from a `LabelSelector` object (`matchLabels` + `matchExpressions`).

    An empty or missing spec matches everything, as for Deployments and PodDisruptionBudgets.
    """
    spec = spec or {}
    fail = _spec_failure
    requirements = [
        Requirement(_check_key(str(k), fail), "=", (_check_value(str(v), fail),))
        for k, v in (spec.get("matchLabels") or {}).items()
    ]
    for expression in spec.get("matchExpressions") or []:
        requirements.append(_expression(expression))
    return LabelSelector(tuple(requirements))


def _spec_failure(problem: str) -> SelectorError:
    return SelectorError(f"invalid label selector object: {problem}")


def _expression(expression: Any) -> Requirement:
    if not isinstance(expression, dict):
        raise _spec_failure("matchExpressions entries must be objects")
    key = _check_key(str(expression.get("key", "")), _spec_failure)
    operator = expression.get("operator")
    if operator not in _MATCH_OPERATORS:
        raise _spec_failure(f"unknown operator {operator!r} for key {key!r}")
    values = tuple(_check_value(str(v), _spec_failure) for v in expression.get("values") or [])
    if operator in ("In", "NotIn") and not values:
        raise _spec_failure(f"operator {operator!r} for key {key!r} needs values")
    if operator in ("Exists", "DoesNotExist") and values:
        raise _spec_failure(f"operator {operator!r} for key {key!r} takes no values")
    return Requirement(key, _MATCH_OPERATORS[operator], values)


def format_label_selector(spec: dict | None) -> str:
    """Render a `LabelSelector` object as a string, sorted by key as the API server does.

    Used for the Scale subresource's `status.selector`, which HPAs parse back.
    """
    selector = selector_from_match(spec)
    return str(LabelSelector(tuple(sorted(selector.requirements, key=lambda r: r.key))))


# A namespace opts in to chaos experiments with this annotation set to "true" (as LitmusChaos's
# `litmuschaos.io/chaos` does): ZeroTouch injects faults nowhere else.
CHAOS_OPT_IN = "chaos.zerotouch.dev/enabled"
