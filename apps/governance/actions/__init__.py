"""Writes for Actions: propose, approve, reject, expire, and the policy that decides.

Every transition is a conditional UPDATE checked by its row count, with its AuditEvent in the
same transaction. Execution lives in executor.py; the guards in guards.py.
"""

from .decide import action_approve as action_approve
from .decide import action_reject as action_reject
from .decide import action_replace as action_replace
from .decide import action_update_parameters as action_update_parameters
from .decide import action_withdraw as action_withdraw
from .decide import actions_expire_due as actions_expire_due
from .links import action_approve_by_link as action_approve_by_link
from .params import MAX_REPLICAS as MAX_REPLICAS
from .params import fingerprint as fingerprint
from .policies import policy_active as policy_active
from .policies import policy_update as policy_update
from .policies import rules as rules
from .policies import rules_mod as rules_mod
from .propose import Prepared as Prepared
from .propose import action_prepare as action_prepare
from .propose import action_propose as action_propose
from .propose import action_record as action_record
from .target import action_rating as action_rating
from .target import resolve_target as resolve_target
from .transitions import actions_cancel_queued as actions_cancel_queued
from .transitions import effective_mode as effective_mode
from .transitions import transition as transition
from .workers import actions_reclaim_from_lost_workers as actions_reclaim_from_lost_workers
