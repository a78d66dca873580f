"""The dispatcher console: a big-screen live map of incidents, crews and routes.

The page is a shell; console.js draws the map from /api/v1/map/incidents/ (viewport only),
crews and plans from the crews API, acts through the REST API and listens on /ws/live/."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from gis.models import District
from incidents.models import OPEN_STATUSES, Channel, Status
from incidents.selectors import category_list_active
from incidents.selectors_map import POINTS_CAP, POINTS_ZOOM
from map_ui.api_console import CONSOLE_ROLES
from map_ui.storm import storm_console_context
from map_ui.views import page_context
from ops.roles import Role, user_has_role


@never_cache
@login_required
def console(request):
    """Dispatchers, intake agents and managers; only dispatchers get the action buttons."""
    user = request.user
    if not user_has_role(user, *CONSOLE_ROLES):
        raise PermissionDenied
    context = page_context(request, zoom=14)
    context["config"] |= {
        "map": context["map"].name,
        "can_dispatch": user_has_role(user, Role.DISPATCHER),
        "username": user.get_username(),
        "points_zoom": POINTS_ZOOM,
        "points_cap": POINTS_CAP,
        "categories": [{"id": c.pk, "code": c.code, "name": c.name_in(),
                        "skills": c.required_skills} for c in category_list_active()],
        "districts": [{"id": d.pk, "code": d.code, "name": d.name_in()}
                      for d in District.objects.order_by("code")],
        "statuses": [{"code": s.value, "name": str(s.label), "open": s in OPEN_STATUSES}
                     for s in Status],
        "channels": [{"code": c.value, "name": str(c.label)} for c in Channel],
        "urls": {"map": "/api/v1/map/incidents/", "live": "/ws/live/"},
    }
    context["storm"] = storm_console_context(can_switch=user_has_role(user, Role.MANAGER))
    return render(request, "map_ui/console.html", context)
