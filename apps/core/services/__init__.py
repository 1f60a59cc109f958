"""Writes: the audit log, safety modes and switches, API tokens, roles, logins, worker heartbeats.

Every state change here writes its AuditEvent in the same transaction, and every service that
acts for a person checks that person's role itself (views check too, but never alone).
"""

from .audit import Actor as Actor
from .audit import AuditWriteError as AuditWriteError
from .audit import audit_record as audit_record
from .beat import beat_lease_hold as beat_lease_hold
from .beat import beat_lease_release as beat_lease_release
from .checkpoints import audit_anchor_check as audit_anchor_check
from .checkpoints import audit_checkpoint_write as audit_checkpoint_write
from .checks import MAX_EXPIRY as MAX_EXPIRY
from .checks import MAX_REASON as MAX_REASON
from .deliveries import notification_emit as notification_emit
from .metrics import work_observe as work_observe
from .notifications import notification_channel_create as notification_channel_create
from .notifications import notification_channel_test as notification_channel_test
from .notifications import notification_channel_update as notification_channel_update
from .notifications import notification_rule_create as notification_rule_create
from .notifications import notification_rule_update as notification_rule_update
from .preferences import preference_time_zone_set as preference_time_zone_set
from .retention import retention_prune as retention_prune
from .safety import EXPIRY_ACTOR as EXPIRY_ACTOR
from .safety import GLOBAL as GLOBAL
from .safety import initial_mode as initial_mode
from .safety import mode_change_loosens as mode_change_loosens
from .safety import safety_engage as safety_engage
from .safety import safety_expire_due as safety_expire_due
from .safety import safety_mode_set as safety_mode_set
from .safety import safety_storm_brake as safety_storm_brake
from .safety import safety_switch_set as safety_switch_set
from .tokens import api_token_create as api_token_create
from .tokens import api_token_revoke as api_token_revoke
from .tokens import api_token_touch as api_token_touch
from .tokens import token_digest as token_digest
from .users import auth_locked_out_record as auth_locked_out_record
from .users import auth_login_failed_record as auth_login_failed_record
from .users import auth_login_record as auth_login_record
from .users import auth_logout_record as auth_logout_record
from .users import user_create as user_create
from .users import user_roles_set as user_roles_set
from .verification import audit_verify as audit_verify
from .workers import worker_heartbeat as worker_heartbeat
