"""Kubernetes label selectors for code outside the sandbox (one parser for both)."""

from .sandbox.selectors import SelectorError, parse_label_selector, selector_from_match

__all__ = ["SelectorError", "parse_label_selector", "selector_from_match"]
