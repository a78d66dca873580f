"""Pages. Each view picks a template and a map; the page talks to the REST API."""

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control

from gis.models import ServiceArea
from map_ui.maps import leaflet_map
from map_ui.storm import storm_citizen_context
from ops.roles import Role, user_has_role


def _area_centre() -> tuple[float, float]:
    area = ServiceArea.objects.order_by("pk").first()
    if area is None:
        return (24.9440, 60.1715)
    centre = area.boundary.centroid
    return (centre.x, centre.y)


def _area_bounds() -> list[float] | None:
    area = ServiceArea.objects.order_by("pk").first()
    return list(area.boundary.extent) if area else None


def page_context(request, *, zoom: int = 15, **config) -> dict:
    from django.utils import translation

    return {
        "map": leaflet_map(center=_area_centre(), zoom=zoom,
                           rtl=translation.get_language_bidi()),
        "config": {"area_bounds": _area_bounds(), "max_photo_bytes":
                   settings.RASAD_PHOTO_MAX_BYTES, **config},
    }


def home(request):
    """The citizen's map: pin a problem and report it."""
    context = page_context(request, zoom=15, max_photos=settings.RASAD_PHOTOS_PER_REPORT,
                           max_description=settings.RASAD_DESCRIPTION_MAX_CHARS)
    context["config"]["map"] = context["map"].name
    context["storm"], context["config"]["storm"] = storm_citizen_context()
    return render(request, "map_ui/report.html", context)


def after_login(request):
    user = request.user
    if user_has_role(user, Role.DISPATCHER, Role.INTAKE_AGENT, Role.MANAGER):
        return redirect("/console/")
    if user_has_role(user, Role.CREW):
        return redirect("/crew/")
    return redirect("home")


@cache_control(max_age=3600)
def manifest(request):
    import json

    body = {
        "name": _("Rasad — report city problems"),
        "short_name": _("Rasad"),
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f6f7f9",
        "theme_color": "#0b5cad",
        "icons": [{"src": static("map_ui/icons/rasad.svg"), "sizes": "any",
                   "type": "image/svg+xml", "purpose": "any maskable"}],
    }
    return HttpResponse(json.dumps(body, ensure_ascii=False),
                        content_type="application/manifest+json")


