"""Writes: the audit log, safety modes and switches, API tokens, roles, logins.

Every state change here writes its AuditEvent in the same transaction, and every service that
acts for a person checks that person's role itself (views check too, but never alone).
"""

from .audit import Actor as Actor
from .audit import AuditWriteError as AuditWriteError
from .audit import _actor_parts as _actor_parts
from .audit import _normal_ip as _normal_ip
from .audit import audit_record as audit_record
from .checkpoints import audit_anchor_check as audit_anchor_check
from .checkpoints import audit_checkpoint_write as audit_checkpoint_write
from .checks import MAX_EXPIRY as MAX_EXPIRY
from .checks import MAX_REASON as MAX_REASON
from .checks import _clean_expiry as _clean_expiry
from .checks import _clean_reason as _clean_reason
from .checks import _iso as _iso
from .safety import EXPIRY_ACTOR as EXPIRY_ACTOR
from .safety import GLOBAL as GLOBAL
from .safety import _apply as _apply
from .safety import _cancel_queued as _cancel_queued
from .safety import _expire_row as _expire_row
from .safety import _expired as _expired
from .safety import _initial_mode as _initial_mode
from .safety import _locked_mode_row as _locked_mode_row
from .safety import _locked_switch_row as _locked_switch_row
from .safety import _plan_covers as _plan_covers
from .safety import _snapshot as _snapshot
from .safety import _strict as _strict
from .safety import _target as _target
from .safety import mode_change_loosens as mode_change_loosens
from .safety import safety_engage as safety_engage
from .safety import safety_expire_due as safety_expire_due
from .safety import safety_mode_set as safety_mode_set
from .safety import safety_switch_set as safety_switch_set
from .tokens import api_token_create as api_token_create
from .tokens import api_token_revoke as api_token_revoke
from .tokens import api_token_touch as api_token_touch
from .tokens import token_digest as token_digest
from .users import _role_names as _role_names
from .users import auth_locked_out_record as auth_locked_out_record
from .users import auth_login_failed_record as auth_login_failed_record
from .users import auth_login_record as auth_login_record
from .users import auth_logout_record as auth_logout_record
from .users import user_create as user_create
from .users import user_roles_set as user_roles_set
from .workers import worker_heartbeat as worker_heartbeat
