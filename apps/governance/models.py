"""Governance's models: the action engine's, defined in action_models.py and imported here so
Django finds them. The audit log, safety modes and switches, tokens and worker heartbeats are
core's (apps/core/models.py)."""

from .action_models import Action, Approval, Policy
from .link_models import ApprovalLink

__all__ = ["Action", "Approval", "ApprovalLink", "Policy"]
