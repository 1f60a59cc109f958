"""Users with roles, as the personas are made, and logged-in test clients."""

from django.contrib.auth.models import Group, User


def persona(username: str, *roles: str) -> User:
    """A user holding `roles`, whose password is `<username>-pass`."""
    user = User.objects.create_user(username=username, password=f"{username}-pass")
    # get_or_create: transactional tests empty every table, the migration's groups included.
    user.groups.set([Group.objects.get_or_create(name=r)[0] for r in roles])
    return user


def login(client, user):
    client.force_login(user)
    return client
