"""Template context: which staff pages the signed-in user may open."""

from ops.roles import Role, user_has_role


def roles(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"perms_console": False, "perms_crew": False, "perms_dashboard": False}
    return {
        "perms_console": user_has_role(user, Role.DISPATCHER, Role.INTAKE_AGENT, Role.MANAGER),
        "perms_crew": user_has_role(user, Role.CREW),
        # Dispatchers see their own departments' figures there.
        "perms_dashboard": user_has_role(user, Role.MANAGER, Role.DISPATCHER),
    }
