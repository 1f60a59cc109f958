from django import forms

from .models import Cluster


class ClusterForm(forms.Form):
    name = forms.SlugField(max_length=60)
    connection = forms.ChoiceField(choices=Cluster.Connection.choices)
    kubeconfig_path = forms.CharField(
        max_length=500, required=False, help_text="Path on the ZeroTouch host"
    )
    context = forms.CharField(max_length=200, required=False)
    environment = forms.ChoiceField(choices=Cluster.Environment.choices)
    protected_namespaces = forms.CharField(
        max_length=2000,
        initial="kube-system, kube-public, kube-node-lease",
        help_text="Comma-separated; actions never touch them without the override switch",
    )
    collect_interval_seconds = forms.IntegerField(min_value=5, max_value=3600, initial=30)
    prometheus_url = forms.URLField(
        required=False, assume_scheme="https", help_text="Optional: read history from it"
    )
    enabled = forms.BooleanField(required=False, initial=True)
    reason = forms.CharField(max_length=2000, required=False)

    def data_for_service(self) -> dict:
        d = dict(self.cleaned_data)
        d["protected_namespaces"] = [
            n.strip() for n in d["protected_namespaces"].split(",") if n.strip()
        ]
        return d

    @classmethod
    def for_cluster(cls, c: Cluster) -> "ClusterForm":
        return cls(
            initial={
                "name": c.name,
                "connection": c.connection,
                "kubeconfig_path": c.kubeconfig_path,
                "context": c.context,
                "environment": c.environment,
                "protected_namespaces": ", ".join(c.protected_namespaces),
                "collect_interval_seconds": c.collect_interval_seconds,
                "prometheus_url": c.prometheus_url,
                "enabled": c.enabled,
            }
        )
