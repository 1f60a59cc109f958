from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "apps.governance"
    label = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from apps.core.registry import HALT_HOOKS, PROMETHEUS_PARTS, PRUNERS, WORKLOAD_HOLDS

        from .actions import actions_cancel_queued
        from .approval_links import approval_links_prune
        from .metrics import prometheus_part
        from .queueing import chaos_stop_register, executor_register
        from .selectors import workloads_with_active_actions
        from .tasks import action_execute, chaos_stop_task

        executor_register(action_execute.delay_on_commit)
        chaos_stop_register(chaos_stop_task.delay_on_commit)
        WORKLOAD_HOLDS.register("governance.actions", workloads_with_active_actions)
        HALT_HOOKS.register("governance.cancel_queued", actions_cancel_queued)
        PROMETHEUS_PARTS.register("governance", prometheus_part)
        PRUNERS.register("governance.approval_links", approval_links_prune)
