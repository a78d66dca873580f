"""The crew phone view: today's stops as a list and a map. The page is a shell the service
worker can keep; the plan comes from the crew API (and IndexedDB when offline)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import cache_control

from map_ui.views import page_context
from ops.roles import Role, user_has_role

PING_INTERVAL_S = 15
RETRY_INTERVAL_S = 20


@login_required
@cache_control(private=True, no_cache=True)
def crew_today(request):
    """Crew members only; anyone else signed in gets a 403 page saying whose page it is."""
    if not user_has_role(request.user, Role.CREW):
        return render(request, "map_ui/crew.html", {"forbidden": True, "config": {}}, status=403)
    context = page_context(request, zoom=14,
                           user_id=request.user.pk,
                           today_url=reverse("crew-today"),
                           positions_url=reverse("crew-positions"),
                           # {incident} and {action} are filled in on the phone.
                           action_url="/api/v1/crew/stops/{incident}/{action}/",
                           login_url=f"{reverse('login')}?next={request.path}",
                           ping_interval_s=PING_INTERVAL_S,
                           retry_interval_s=RETRY_INTERVAL_S)
    context["config"]["map"] = context["map"].name
    return render(request, "map_ui/crew.html", context)
