import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from apps.core.errors import RoleRequired, ValidationFailed
from apps.core.models import AuditEvent
from apps.core.roles import Cap, user_can
from apps.core.services import user_roles_set

pytestmark = pytest.mark.django_db


def test_it_audits_role_changes_even_for_an_inactive_account(adam):
    sleeper = User.objects.create_user("sleeper", is_active=False)
    user_roles_set(actor=adam, user=sleeper, roles=["admin"], reason="returns monday")
    ev = AuditEvent.objects.get(verb="user.roles_changed")
    assert (ev.before, ev.after) == ({"roles": []}, {"roles": ["admin"]})
    assert not user_can(sleeper, Cap.VIEW)  # inactive: no powers until reactivated


def test_it_lets_only_admins_change_roles(olivia, vic):
    with pytest.raises(RoleRequired):
        user_roles_set(actor=olivia, user=vic, roles=["admin"], reason="promote me")
    assert list(vic.groups.values_list("name", flat=True)) == ["viewer"]
    with pytest.raises(ValidationFailed):
        user_roles_set(actor="system:test", user=vic, roles=["root"], reason="x")
    assert not AuditEvent.objects.exists()


def test_the_roles_command_creates_and_audits(db):
    call_command("roles", "carol", "approver", "operator", "--reason", "new hire", "--create")
    carol = User.objects.get(username="carol")
    assert sorted(carol.groups.values_list("name", flat=True)) == ["approver", "operator"]
    assert not carol.has_usable_password()
    verbs = list(AuditEvent.objects.order_by("seq").values_list("actor", "verb"))
    assert verbs == [
        ("system:manage.py", "user.created"),
        ("system:manage.py", "user.roles_changed"),
    ]
    with pytest.raises(CommandError, match="no user"):
        call_command("roles", "dave", "viewer", "--reason", "x")


def test_a_superuser_holds_every_capability(db):
    root = User.objects.create_superuser("root", password="x")
    assert all(user_can(root, cap) for cap in Cap)
