"""Defaulting and validation of the StatefulSet, DaemonSet and CronJob fields their
controllers rely on (the schema has been checked before)."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from ..resources import Resource
from .validation import invalid, validate_pod_spec, validate_selector

MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def prepare_workload(res: Resource, obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    if res.kind == "StatefulSet":
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if spec["updateStrategy"].get("type") == "RollingUpdate":
            spec["updateStrategy"].setdefault("rollingUpdate", {"partition": 0})
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault(
            "persistentVolumeClaimRetentionPolicy",
            {"whenDeleted": "Retain", "whenScaled": "Retain"},
        )
        _pods(res, obj, spec)
    elif res.kind == "DaemonSet":
        spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if spec["updateStrategy"].get("type") == "RollingUpdate":
            spec["updateStrategy"].setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
        spec.setdefault("revisionHistoryLimit", 10)
        _pods(res, obj, spec)
    elif res.kind == "CronJob":
        _cron_job(res, obj, spec)


def _pods(res: Resource, obj: dict, spec: dict) -> None:
    validate_selector(res, obj, spec)
    template_spec = (spec.get("template") or {}).get("spec") or {}
    validate_pod_spec(res, obj, template_spec, "spec.template.spec")


def _cron_job(res: Resource, obj: dict, spec: dict) -> None:
    schedule = spec.get("schedule", "")
    if schedule not in MACROS and (len(schedule.split()) != 5 or not croniter.is_valid(schedule)):
        raise invalid(
            res,
            obj,
            "spec.schedule",
            f'Invalid value: "{schedule}": not a valid '
            "cron schedule (five fields: minute hour day-of-month month day-of-week)",
        )
    if spec.get("timeZone"):
        try:
            ZoneInfo(spec["timeZone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise invalid(
                res, obj, "spec.timeZone", f'Invalid value: "{spec["timeZone"]}": unknown time zone'
            ) from None
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    template = spec.get("jobTemplate") or {}
    pod_spec = ((template.get("spec") or {}).get("template") or {}).get("spec") or {}
    validate_pod_spec(res, obj, pod_spec, "spec.jobTemplate.spec.template.spec")
    policy = pod_spec.get("restartPolicy") or "Always"
    if policy not in ("OnFailure", "Never"):
        raise invalid(
            res,
            obj,
            "spec.jobTemplate.spec.template.spec.restartPolicy",
            f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"',
            reason="FieldValueNotSupported",
        )
    job_spec = template.get("spec") or {}
    for key, value in (("backoffLimit", 6), ("completions", 1), ("parallelism", 1)):
        job_spec.setdefault(key, value)
