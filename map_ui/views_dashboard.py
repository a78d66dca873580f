"""The manager dashboard (`/console/dashboard/`): how the city answers its residents.

The page is a shell; dashboard.js asks /api/v1/dashboard/ for every figure in one request
(map_ui.api_dashboard) and draws the KPI cards, the trend charts (Chart.js), the rankings,
the district map and the slowest open incidents. Managers and admins see every
department; a dispatcher only their own (the filter lists offer nothing else)."""

import json

from django.contrib.auth.decorators import login_required
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache

from gis.models import District
from incidents.models import OPEN_STATUSES, Category, Channel, Department, Status
from map_ui.api_dashboard import DEFAULT_LAST_DAYS, MAX_PERIOD_DAYS, dashboard_scope
from map_ui.views import page_context
from ops.roles import Role, user_has_role

REPORT_FORMATS = ("pdf", "html", "csv")


def _districts_geojson(language: str) -> dict:
    rows = (District.objects.order_by("code")
            .annotate(shape=AsGeoJSON("boundary", precision=5))
            .values("pk", "code", "name_en", "name_ar", "name_fa", "shape"))
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": r["code"], "geometry": json.loads(r["shape"]),
         "properties": {"code": r["code"],
                        "name": r.get(f"name_{language[:2]}") or r["name_en"]}}
        for r in rows]}


@never_cache
@login_required
def dashboard(request):
    user = request.user
    if not user_has_role(user, Role.MANAGER, Role.DISPATCHER):
        raise PermissionDenied
    language = translation.get_language() or "en"
    scope = dashboard_scope(user)
    departments = Department.objects.order_by("code")
    categories = Category.objects.order_by("code")
    if scope is not None:
        departments = departments.filter(pk__in=scope)
        categories = categories.filter(department_id__in=scope)
    context = page_context(request, zoom=13)
    departments = list(departments)
    context["config"] |= {
        "map": context["map"].name,
        "username": user.get_username(),
        "restricted": scope is not None,
        "departments": [{"code": d.code, "name": d.name_in(language)} for d in departments],
        "categories": [{"code": c.code, "name": c.name_in(language),
                        "department": c.department.code} for c in
                       categories.select_related("department")],
        "districts": _districts_geojson(language),
        "channels": [{"code": c.value, "name": str(c.label)} for c in Channel],
        "statuses": [{"code": s.value, "name": str(s.label), "open": s in OPEN_STATUSES}
                     for s in Status if s != Status.MERGED],
        "resolved_statuses": [Status.RESOLVED.value, Status.CLOSED.value],
        "default_last_days": DEFAULT_LAST_DAYS,
        "max_days": MAX_PERIOD_DAYS,
        "report_formats": list(REPORT_FORMATS),
        "urls": {"api": "/api/v1/dashboard/", "console": "/console/",
                 "report": "/console/dashboard/report/"},
    }
    return render(request, "map_ui/dashboard.html", context)
