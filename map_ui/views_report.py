"""The monthly report from the dashboard: /console/dashboard/report/?month=YYYY-MM&lang=ar
&format=pdf|html|csv (&area=slug). Managers and admins get the whole city; a dispatcher the
report of their departments only. Bad input is a 400 in the reader's language."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from gis.models import ServiceArea
from incidents.stats.figures import Filters
from incidents.stats.report import (
    ReportInputError,
    area_today,
    monthly_report,
    previous_month,
)
from map_ui.api_dashboard import dashboard_scope
from ops.roles import Role, user_has_role


def report_filters_for(user) -> Filters:
    """Managers and admins read every department; a dispatcher only theirs (as on the
    dashboard)."""
    if not user_has_role(user, Role.MANAGER, Role.DISPATCHER):
        raise PermissionDenied
    return Filters(departments=dashboard_scope(user))


def _refused(field: str, message: str) -> JsonResponse:
    return JsonResponse({"detail": message, "code": "invalid", "errors": {field: [message]}},
                        status=400)


@never_cache
@require_GET
@login_required
def monthly_report_download(request):
    filters = report_filters_for(request.user)
    slug = request.GET.get("area", "")
    areas = ServiceArea.objects.order_by("pk")
    area = (areas.filter(slug=slug) if slug else areas).first()
    if area is None:
        return _refused("area", _("There is no service area “%(value)s”.") % {"value": slug})
    language = request.GET.get("lang") or (translation.get_language() or "en")[:2]
    try:
        rendered = monthly_report(
            area=area, month=request.GET.get("month") or previous_month(area_today(area)),
            language=language, fmt=request.GET.get("format") or "pdf", filters=filters)
    except ReportInputError as exc:
        return _refused(exc.field, exc.message)
    response = HttpResponse(rendered.content, content_type=rendered.content_type)
    disposition = "inline" if rendered.content_type.startswith("text/html") else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{rendered.filename}"'
    response["Content-Language"] = language
    return response
