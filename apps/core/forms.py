from datetime import datetime, timedelta

from django import forms
from django.utils import timezone

from . import timezones
from .models import MODE_STRICTNESS, Mode

EXPIRY_CHOICES = [
    ("", "No expiry (until changed)"),
    ("15", "15 minutes"),
    ("60", "1 hour"),
    ("240", "4 hours"),
    ("1440", "24 hours"),
    ("10080", "7 days"),
]


class _ExpiryMixin:
    def expires_at(self) -> datetime | None:
        minutes = self.cleaned_data.get("expires_in")
        return timezone.now() + timedelta(minutes=int(minutes)) if minutes else None


class SafetyModeForm(_ExpiryMixin, forms.Form):
    mode = forms.ChoiceField(choices=Mode.choices)
    reason = forms.CharField(max_length=2000, widget=forms.TextInput)
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label="Expires")


def modes_offered(current: str, *, may_loosen: bool) -> list[tuple[str, str]]:
    """The modes a person may pick from `current`: all for an admin; for the others the
    current one and the stricter (loosening needs an admin; the service says so too)."""
    floor = MODE_STRICTNESS[Mode(current)]
    return [(m.value, m.label) for m in Mode if may_loosen or MODE_STRICTNESS[m] >= floor]


class SafetySwitchForm(_ExpiryMixin, forms.Form):
    enabled = forms.TypedChoiceField(
        choices=[("on", "on"), ("off", "off")], coerce=lambda v: v == "on"
    )
    reason = forms.CharField(max_length=2000, widget=forms.TextInput)
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label="Expires")


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150)
    verb = forms.CharField(required=False, max_length=80)
    target = forms.CharField(required=False, max_length=300)
    since = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(required=False, label="Time zone")

    def __init__(self, *args, browser: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        follow = f"The browser's ({browser})" if browser else "The browser's"
        zones = sorted(timezones.known())
        self.fields["time_zone"].choices = [("", follow), *((z, z) for z in zones)]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=80)
    expires_in_days = forms.IntegerField(min_value=1, max_value=366, initial=90)
