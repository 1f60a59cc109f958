from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.core.models import AuditEvent
from apps.core.services import audit_verify


class Command(BaseCommand):
    help = (
        "Verify the audit log: its hash chain, and the chain against the signed checkpoints "
        "written outside the database. Exit 0 when intact; non-zero naming the first problem."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all", action="store_true", help="list every problem, not only the first"
        )
        parser.add_argument(
            "--checkpoints",
            type=Path,
            help="a file of checkpoint lines (e.g. exported from a syslog or HTTP sink) "
            "instead of the file sink",
        )

    def handle(self, *args, **options):
        # Kept as the newest verification, which /metrics exposes (an alert fires on a failure).
        result = audit_verify(checkpoint_file=options["checkpoints"], first_only=not options["all"])
        problems, anchor = result.problems, result.anchor
        for p in problems:
            where = f"row id={p.pk} seq={p.seq}" if p.pk else f"chain (seq {p.seq})"
            self.stderr.write(f"BAD {where}: {p.message}")
        for message in anchor.problems if options["all"] or not problems else []:
            self.stderr.write(f"BAD anchor: {message}")
        if problems:
            raise CommandError(
                f"audit chain broken at {problems[0].message.split(':')[0]}"
                f" (first bad: id={problems[0].pk} seq={problems[0].seq})"
            )
        if anchor.problems:
            raise CommandError(f"audit log does not match its checkpoints: {anchor.problems[0]}")
        count = AuditEvent.objects.count()
        newest = anchor.newest
        anchored = (
            f"anchored by {anchor.checkpoints} signed checkpoints in {anchor.source}, the newest "
            f"at seq {newest.seq} ({newest.at}); {anchor.unanchored} newer events not yet "
            "checkpointed"
            if newest
            else f"no checkpoint yet in {anchor.source}"
        )
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {count} events; {anchored}"))
