from django.core.management.base import BaseCommand, CommandError

from apps.governance.models import AuditEvent
from apps.governance.selectors import audit_chain_problems


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain. Exit 0 when intact; non-zero naming the first bad row."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all", action="store_true", help="list every problem, not only the first"
        )

    def handle(self, *args, **options):
        problems = audit_chain_problems(first_only=not options["all"])
        if problems:
            for p in problems:
                where = f"row id={p.pk} seq={p.seq}" if p.pk else f"chain (seq {p.seq})"
                self.stderr.write(f"BAD {where}: {p.message}")
            raise CommandError(
                f"audit chain broken at {problems[0].message.split(':')[0]}"
                f" (first bad: id={problems[0].pk} seq={problems[0].seq})"
            )
        count = AuditEvent.objects.count()
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {count} events"))
