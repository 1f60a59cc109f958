"""The policy page: everyone who may read sees the rules that govern every action and their
history; admins change them through a form that makes a new, audited version."""

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from apps.core.errors import ApplicationError
from apps.core.roles import Cap, role_required, user_can

from . import actions
from . import policy as rules_mod
from .action_models import Policy

# The policy may auto-approve only these (policy.AutoApprove): P1/P2 and risky actions never.
SEVERITIES = [("P3", "P3"), ("P4", "P4")]
RISKS = [("low", "low")]


def _count(label: str, rule: str) -> forms.IntegerField:
    lo, hi = rules_mod.bounds(rule)  # the schema's range: the form offers what it accepts
    return forms.IntegerField(label=label, min_value=lo, max_value=hi)


class PolicyForm(forms.Form):
    base_version = forms.IntegerField(widget=forms.HiddenInput)
    p1 = _count("Approvers for P1", "approvals_required.P1")
    p2 = _count("Approvers for P2", "approvals_required.P2")
    p3 = _count("Approvers for P3", "approvals_required.P3")
    p4 = _count("Approvers for P4", "approvals_required.P4")
    auto_severities = forms.MultipleChoiceField(
        choices=SEVERITIES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Auto-approve severities",
    )
    auto_risks = forms.MultipleChoiceField(
        choices=RISKS,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Auto-approve risks",
    )
    approval_ttl_minutes = _count("Approvals expire after (minutes)", "approval_ttl_minutes")
    per_namespace_hour = _count(
        "Actions per namespace per hour", "budgets.actions_per_namespace_per_hour"
    )
    concurrent = _count("Concurrent actions per cluster", "budgets.concurrent_per_cluster")
    disruption_share = forms.FloatField(
        label="Share of a workload disrupted at once",
        min_value=rules_mod.bounds("budgets.max_disruption_share")[0],
        max_value=rules_mod.bounds("budgets.max_disruption_share")[1],
    )
    storm_failures = _count("Storm brake: failures", "storm.failures")
    storm_minutes = _count("Storm brake: within (minutes)", "storm.window_minutes")
    execution_timeout_seconds = _count("Execution timeout (s)", "execution_timeout_seconds")
    verify_timeout_seconds = _count("Verification timeout (s)", "verify_timeout_seconds")
    pdb_retry_seconds = _count("Wait for a PDB (s)", "pdb_retry_seconds")
    quiet_period_minutes = _count(
        "Quiet period after a verified fix (minutes)", "quiet_period_minutes"
    )
    windows = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        label="Change and freeze windows (JSON)",
        help_text='{"allow": [...], "deny": [...]}; each {"days": ["mon"], "start": "09:00", '
        '"end": "17:00", "tz": "Europe/Berlin"}. Deny beats allow; no allow means any time.',
    )
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    @classmethod
    def from_policy(cls, p: Policy) -> "PolicyForm":
        r = rules_mod.validate_or_safe(p.rules)[0]
        b, storm, need = r["budgets"], r["storm"], r["approvals_required"]
        return cls(
            initial={
                "base_version": p.version,
                **{s.lower(): need[s] for s in ("P1", "P2", "P3", "P4")},
                "auto_severities": r["auto_approve"]["severities"],
                "auto_risks": r["auto_approve"]["risks"],
                "approval_ttl_minutes": r["approval_ttl_minutes"],
                "per_namespace_hour": b["actions_per_namespace_per_hour"],
                "concurrent": b["concurrent_per_cluster"],
                "disruption_share": b["max_disruption_share"],
                "storm_failures": storm["failures"],
                "storm_minutes": storm["window_minutes"],
                "execution_timeout_seconds": r["execution_timeout_seconds"],
                "verify_timeout_seconds": r["verify_timeout_seconds"],
                "pdb_retry_seconds": r["pdb_retry_seconds"],
                "quiet_period_minutes": r["quiet_period_minutes"],
                "windows": json.dumps(r["windows"], indent=2),
            }
        )

    def clean_windows(self) -> dict:
        try:
            w = json.loads(self.cleaned_data["windows"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from exc
        if not isinstance(w, dict) or set(w) - {"allow", "deny"}:
            raise forms.ValidationError('an object with only "allow" and "deny" lists')
        if not all(isinstance(w.get(k, []), list) for k in ("allow", "deny")):
            raise forms.ValidationError('"allow" and "deny" must be lists')
        return {"allow": w.get("allow", []), "deny": w.get("deny", [])}

    def rules(self, current: dict) -> dict:
        d = self.cleaned_data
        return {
            **current,
            "approvals_required": {s: d[s.lower()] for s in ("P1", "P2", "P3", "P4")},
            "auto_approve": {"severities": d["auto_severities"], "risks": d["auto_risks"]},
            "approval_ttl_minutes": d["approval_ttl_minutes"],
            "budgets": {
                "actions_per_namespace_per_hour": d["per_namespace_hour"],
                "concurrent_per_cluster": d["concurrent"],
                "max_disruption_share": d["disruption_share"],
            },
            "storm": {"failures": d["storm_failures"], "window_minutes": d["storm_minutes"]},
            "execution_timeout_seconds": d["execution_timeout_seconds"],
            "verify_timeout_seconds": d["verify_timeout_seconds"],
            "pdb_retry_seconds": d["pdb_retry_seconds"],
            "quiet_period_minutes": d["quiet_period_minutes"],
            "windows": d["windows"],
        }


@require_http_methods(["GET", "POST"])
@role_required(Cap.VIEW)
def policy_page(request):
    current = actions.policy_active()
    form = PolicyForm.from_policy(current)
    status = 200
    if request.method == "POST":
        if not user_can(request.user, Cap.MANAGE_POLICY):
            raise PermissionDenied("changing the policy requires the 'manage_policy' permission")
        form = PolicyForm(request.POST)
        if form.is_valid():
            try:
                new = actions.policy_update(
                    actor=request.user,
                    rules=form.rules(rules_mod.validate_or_safe(current.rules)[0]),
                    reason=form.cleaned_data["reason"],
                    base_version=form.cleaned_data["base_version"],
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
                status = exc.status
            else:
                messages.success(request, f"Policy version {new.version} is now active.")
                return redirect("policy")
        else:
            status = 400
            messages.error(request, "The policy was not changed: " + _errors(form))
    rules, broken = rules_mod.validate_or_safe(current.rules)
    context = {
        "policy": current,
        "rules": rules,
        "broken": broken,
        "history": Policy.objects.order_by("-version")[:20],
        "form": form,
    }
    return render(request, "governance/policy.html", context, status=status)


def _errors(form: forms.Form) -> str:
    return "; ".join(
        f"{form.fields[f].label if f in form.fields else f}: {' '.join(e)}"
        for f, e in form.errors.items()
    )
