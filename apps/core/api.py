"""JSON API: the safety mode and switches (/ai/safety/...), and what every app's API uses:
AUTH (a session with CSRF, or a bearer token), Reason, NameFilter and IsoTime."""

import re
from datetime import datetime, timedelta
from typing import Annotated, Literal

from django.utils import timezone
from ninja import Field, Router, Schema
from ninja.security import HttpBearer, django_auth
from pydantic import BeforeValidator, StringConstraints, WithJsonSchema

from . import selectors, services
from .errors import ValidationFailed
from .models import Mode, Switch
from .roles import Cap, require


class TokenAuth(HttpBearer):
    def authenticate(self, request, token):
        user = selectors.api_token_authenticate(token)
        if user is not None:
            request.user = user
        return user


AUTH = [TokenAuth(), django_auth]
router = Router(auth=AUTH, tags=["ai"])


class SwitchOut(Schema):
    name: str
    enabled: bool
    expires_at: datetime | None
    reason: str
    changed_by: str


class SafetyOut(Schema):
    scope: str
    mode: str
    expires_at: datetime | None
    fallback_mode: str | None
    reason: str
    changed_by: str
    changed_at: datetime | None
    switches: list[SwitchOut]


# Text fields: no NUL characters (PostgreSQL cannot store them; 400 naming the field instead).
Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^[^\x00]*$")]


# Names in filters and bodies (cluster, namespace): no NUL, as long as Kubernetes allows.
NameFilter = Annotated[str, StringConstraints(max_length=253, pattern=r"^[^\x00]*$")]


def _iso_only(value):
    if isinstance(value, int | float) or (
        isinstance(value, str) and re.fullmatch(r"[-+]?[\d.]+([eE][-+]?\d+)?", value.strip())
    ):
        raise ValueError("a time in ISO 8601 (2026-12-06T10:00:00Z), not a number")
    return value


# Times in requests: ISO 8601 only (pydantic alone reads "0.5" as a Unix timestamp).
IsoTime = Annotated[
    datetime, BeforeValidator(_iso_only), WithJsonSchema({"type": "string", "format": "date-time"})
]


class EnableIn(Schema):
    model_config = {"extra": "forbid"}
    mode: Literal["supervised", "dry_run", "halted"] = "supervised"
    reason: Reason
    expires_at: IsoTime | None = None
    expires_in_minutes: int | None = Field(None, ge=1, le=129600)


class DisableIn(Schema):
    model_config = {"extra": "forbid"}
    reason: Reason


class SwitchIn(Schema):
    model_config = {"extra": "forbid"}
    name: Literal[tuple(Switch.values)]  # type: ignore[valid-type]
    enabled: bool
    reason: Reason
    expires_at: IsoTime | None = None
    expires_in_minutes: int | None = Field(None, ge=1, le=129600)


class SafetyChangeOut(Schema):
    changed: bool
    safety: SafetyOut


def safety_out() -> dict:
    """The global safety state as SafetyOut (GET /ai/status shows it too)."""
    state = selectors.safety_state_get()
    return {
        "scope": state.scope,
        "mode": state.mode,
        "expires_at": state.expires_at,
        "fallback_mode": state.fallback_mode or None,
        "reason": state.reason,
        "changed_by": state.changed_by,
        "changed_at": state.changed_at,
        "switches": [
            {
                "name": s.name,
                "enabled": s.enabled,
                "expires_at": s.expires_at,
                "reason": s.reason,
                "changed_by": s.changed_by,
            }
            for s in state.switches
        ],
    }


def _expiry(payload) -> datetime | None:
    if payload.expires_at and payload.expires_in_minutes:
        raise ValidationFailed(
            "give expires_at or expires_in_minutes, not both", field="expires_at"
        )
    if payload.expires_in_minutes:
        return timezone.now() + timedelta(minutes=payload.expires_in_minutes)
    return payload.expires_at


@router.post("/safety/enable", response=SafetyChangeOut, summary="Engage safety")
def safety_enable(request, payload: EnableIn):
    """Make things at least as strict as `supervised`, or the stricter mode named, until the
    expiry if one is given. Never loosens: when the current plan already covers the request
    nothing changes (`changed: false`); a request that could only be met by ending a stricter
    mode early gets 409 saying why."""
    _, changed = services.safety_engage(
        actor=request.auth, mode=payload.mode, reason=payload.reason, expires_at=_expiry(payload)
    )
    return {"changed": changed, "safety": safety_out()}


@router.post("/safety/disable", response=SafetyChangeOut, summary="Back to autonomous")
def safety_disable(request, payload: DisableIn):
    require(request.auth, Cap.MANAGE_SAFETY)
    before = selectors.safety_state_get()
    services.safety_mode_set(actor=request.auth, mode=Mode.AUTONOMOUS, reason=payload.reason)
    changed = before.mode != Mode.AUTONOMOUS or before.expires_at is not None
    return {"changed": changed, "safety": safety_out()}


@router.post("/safety/switch", response=SafetyChangeOut, summary="Set an override switch")
def safety_switch(request, payload: SwitchIn):
    require(request.auth, Cap.MANAGE_SAFETY if payload.enabled else Cap.ENGAGE_SAFETY)
    before = selectors.safety_state_get()
    services.safety_switch_set(
        actor=request.auth,
        name=payload.name,
        enabled=payload.enabled,
        reason=payload.reason,
        expires_at=_expiry(payload),
    )
    after = selectors.safety_state_get()
    return {"changed": before.switches != after.switches, "safety": safety_out()}
