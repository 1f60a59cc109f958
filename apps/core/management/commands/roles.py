from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.core.roles import Role
from apps.core.services import user_create, user_roles_set


class Command(BaseCommand):
    help = "Set a user's roles (viewer, operator, approver, admin). Audited as system:manage.py."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("roles", nargs="*", choices=[r.value for r in Role], metavar="ROLE")
        parser.add_argument("--reason", required=True)
        parser.add_argument(
            "--create",
            action="store_true",
            help="create the user (with an unusable password) if missing",
        )

    def handle(self, *args, username, roles, reason, create, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None and not create:
            raise CommandError(f"no user {username!r} (use --create)")
        try:
            if user is None:
                user = user_create(actor="system:manage.py", username=username, reason=reason)
            user_roles_set(actor="system:manage.py", user=user, roles=roles, reason=reason)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{username}: {', '.join(sorted(roles)) or 'no roles'}")
