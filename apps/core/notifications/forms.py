from django import forms

from .. import timezones
from ..registry import CLUSTER_NAMES
from .models import ROUTABLE, SEVERITY_CHOICES, ChannelKind, NotificationChannel


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=80)
    kind = forms.ChoiceField(choices=ChannelKind.choices)
    url = forms.CharField(
        max_length=500,
        required=False,
        label="URL (webhook and Slack)",
        widget=forms.PasswordInput(render_value=False),
        help_text="stored, never shown again; leave blank when editing to keep it",
    )
    secret = forms.CharField(
        max_length=200,
        required=False,
        label="Signing secret (webhook)",
        widget=forms.PasswordInput(render_value=False),
        help_text="HMAC-SHA256 key, at least 16 characters; blank when editing keeps it",
    )
    recipients = forms.CharField(
        max_length=1000, required=False, label="Recipients (email, comma-separated)"
    )
    enabled = forms.BooleanField(required=False, initial=True)


class RuleForm(forms.Form):
    name = forms.CharField(max_length=80)
    channel = forms.ModelChoiceField(queryset=NotificationChannel.objects.order_by("name"))
    events = forms.MultipleChoiceField(
        choices=[(e.value, e.label) for e in ROUTABLE],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="none ticked: every event",
    )
    min_severity = forms.ChoiceField(choices=SEVERITY_CHOICES, initial="P4", label="At least")
    cluster_id = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Cluster"
    )
    namespace = forms.CharField(max_length=253, required=False, help_text="blank: every one")
    quiet_start = forms.TimeField(
        required=False, widget=forms.TimeInput(attrs={"type": "time"}), label="Quiet from"
    )
    quiet_end = forms.TimeField(
        required=False, widget=forms.TimeInput(attrs={"type": "time"}), label="Quiet until"
    )
    quiet_zone = forms.ChoiceField(label="Quiet hours' time zone", initial="UTC")
    digest_from = forms.ChoiceField(
        choices=[("", "no digest"), ("P3", "P3 and P4"), ("P4", "P4 only")],
        required=False,
        label="To the digest",
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["quiet_zone"].choices = [(z, z) for z in sorted(timezones.known())]
        self.fields["cluster_id"].choices = [("", "every cluster"), *cluster_choices()]


def cluster_choices() -> list[tuple[int, str]]:
    """The clusters apps registered (core knows clusters only by id)."""
    return sorted((pair for names in CLUSTER_NAMES for pair in names()), key=lambda p: p[1])
