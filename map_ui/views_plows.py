"""The public plow map (/public/plows/) and its data (/open-data/plowed.geojson,
/public/plows/vehicles.geojson), no login.

Both documents are built once a minute by beat (crews.services.plowmap.plow_map_refresh)
and served here from the cache as they are: a visitor costs no database query, so a storm
night's crowd is served from Redis. The page polls them every minute rather than holding a
websocket per visitor: the data changes once a minute anyway (the delayed positions), and
a GET of a cached document is what every proxy and CDN in front can absorb too."""

import json

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from crews.selectors import plow_map_cached
from map_ui.maps import leaflet_map
from map_ui.views import page_context

POLL_S = 60
# Shown from anywhere: the documents are public and cached.
MAX_AGE_S = 30


def _document(request, kind: str, filename: str):
    entry = plow_map_cached(kind)
    if entry is None:
        response = JsonResponse({"detail": _("The plow map is being prepared. Try again in a "
                                             "minute."), "code": "not_ready"}, status=503)
        response["Retry-After"] = str(POLL_S)
        return response
    etag = f'"{entry["etag"]}"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(entry["body"], content_type="application/geo+json")
        response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={MAX_AGE_S}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def plowed_geojson(request):
    """Road edges with the last pass per task (plowing, salting), class and priority."""
    return _document(request, "edges", "plowed.geojson")


@require_GET
def plow_vehicles_geojson(request):
    """Plows where they were RASAD_PLOW_DELAY_MINUTES ago, by opaque vehicle id."""
    return _document(request, "vehicles", "plow-vehicles.geojson")


@require_GET
def plow_map(request):
    """The map. Centred on the city's box from the cached document (no query); before the
    first build, from the service area."""
    entry = plow_map_cached("vehicles")
    meta = json.loads(entry["body"]) if entry else {}
    bbox = meta.get("bbox")
    config = {"edges_url": reverse("open-data-plowed"), "vehicles_url": reverse("plow-vehicles"),
              "report_url": reverse("home"), "poll_s": POLL_S,
              "report_category": meta.get("report_category")}
    if bbox:
        parts = leaflet_map(center=((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2), zoom=14)
        context = {"map": parts, "config": {"area_bounds": bbox, **config}}
    else:
        context = page_context(request, zoom=14, **config)
    context["config"]["map"] = context["map"].name
    delay = meta.get("delay_minutes")
    context["delay_minutes"] = round(delay) if delay is not None else None
    return render(request, "map_ui/plows.html", context)
