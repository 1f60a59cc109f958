"""Audit of sign-in failures and lock-outs. Django's auth and django-axes report them only as
signals, so these two receivers are the one place the product listens to signals; they call
services, nothing else."""

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_login_failed

from . import services
from .context import current


def login_failed(sender, credentials: dict, request=None, **kwargs) -> None:
    if request is not None and getattr(request, "axes_locked_out", False):
        return  # an attempt while locked out: the lock-out is audited once instead
    services.auth_login_failed_record(username=str(credentials.get("username") or ""))


def locked_out(sender, request=None, username: str | None = None, **kwargs) -> None:
    services.auth_locked_out_record(
        username=username or "",
        client_ip=current().client_ip,
        window=settings.AXES_COOLOFF_TIME,
    )


def connect() -> None:
    user_login_failed.connect(login_failed, dispatch_uid="zerotouch.audit.login_failed")
    user_locked_out.connect(locked_out, dispatch_uid="zerotouch.audit.locked_out")
