"""`manage.py check --deploy`: what production needs that the demo generates for itself."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def audit_key_configured(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if settings.AUDIT_KEY_CONFIGURED:
        return []
    return [
        checks.Warning(
            "AUDIT_KEY is generated into var/audit_key: each container would sign audit "
            "checkpoints with a key of its own, kept beside the data it protects.",
            hint="Set AUDIT_KEY (or AUDIT_KEY_FILE, a mounted secret) where the database's "
            "writers cannot read it, and AUDIT_CHECKPOINT_SINKS to storage every container "
            "shares or a remote syslog/HTTP sink (docs/actions-and-safety.md).",
            id="zerotouch.W001",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def public_url_configured(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if settings.ZEROTOUCH_URL_CONFIGURED:
        return []
    return [
        checks.Warning(
            f"ZEROTOUCH_URL is not set: links in notifications and one-click approval links "
            f"would point at {settings.ZEROTOUCH_URL}.",
            hint="Set ZEROTOUCH_URL to the address people reach ZeroTouch at, e.g. "
            "https://zerotouch.example.com/ (docs/notifications.md).",
            id="zerotouch.W002",
        )
    ]
