"""Role definitions. A role is a Django group; dispatchers are scoped to departments."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group


class Role:
    CITIZEN = "citizen"
    INTAKE_AGENT = "intake_agent"
    DISPATCHER = "dispatcher"
    CREW = "crew"
    MANAGER = "manager"

    STAFF = (INTAKE_AGENT, DISPATCHER, CREW, MANAGER)
    ALL = (CITIZEN, INTAKE_AGENT, DISPATCHER, CREW, MANAGER)
    # The verification inbox: who reads it, and who files or answers from it.
    INBOX_READ = (INTAKE_AGENT, DISPATCHER, MANAGER)
    INBOX_ACT = (INTAKE_AGENT, DISPATCHER)


def roles_ensure() -> None:
    for name in Role.ALL:
        Group.objects.get_or_create(name=name)


def user_has_role(user: AbstractBaseUser | AnonymousUser, *roles: str) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    names = getattr(user, "_rasad_roles", None)
    if names is None:
        names = set(user.groups.values_list("name", flat=True))
        user._rasad_roles = names
    return bool(names.intersection(roles))
