"""The only package that imports `kubernetes`: every cluster call goes through Gateway."""

from . import errors, types
from .client import Gateway

__all__ = ["Gateway", "errors", "types"]
