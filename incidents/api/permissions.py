"""Who may do what. Roles are groups (ops.roles); dispatchers act within their departments."""

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

from incidents.models import Incident
from ops.roles import Role, user_has_role


class IsDispatcher(BasePermission):
    message = _("Only dispatchers may do this.")

    def has_permission(self, request, view) -> bool:
        return user_has_role(request.user, Role.DISPATCHER)


class IsStaffMember(BasePermission):
    message = _("Only city staff may do this.")

    def has_permission(self, request, view) -> bool:
        return user_has_role(request.user, *Role.STAFF)


def user_department_ids(user) -> list[int] | None:
    """Departments a user works for; None means every department (admins)."""
    if user.is_superuser:
        return None
    return list(user.departments.values_list("pk", flat=True))


def user_may_dispatch(user, incident: Incident) -> bool:
    if not user_has_role(user, Role.DISPATCHER):
        return False
    departments = user_department_ids(user)
    return departments is None or incident.department_id in departments


def dispatch_require(request, incident: Incident) -> None:
    """403 unless the user dispatches for the incident's department."""
    if not user_may_dispatch(request.user, incident):
        from rest_framework.exceptions import PermissionDenied

        raise PermissionDenied(_("This incident belongs to a department you do not dispatch "
                                 "for."))
