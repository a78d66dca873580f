"""Reads for area alerts and notices. Public selectors never touch contacts or reporters."""

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from gis.models import District, ServiceArea
from incidents.models import AlertSubscription, Incident, Notice, Report, Status


def alert_subscription_get_by_token(token: str) -> AlertSubscription | None:
    if not token:
        return None
    return (AlertSubscription.objects.select_related("district", "service_area")
            .prefetch_related("categories").filter(token=token).first())


def district_get_by_code(code: str, area: ServiceArea | None = None) -> District | None:
    districts = District.objects.filter(code=code).select_related("area").order_by("area_id")
    if area is not None:
        districts = districts.filter(area=area)
    return districts.first()


def district_get_at(lon: str | float, lat: str | float) -> District | None:
    """The district holding a point (as intake places reports); None outside or for junk."""
    from django.contrib.gis.geos import Point

    from gis.areas import place_point

    try:
        placement = place_point(Point(float(lon), float(lat), srid=4326))
    except (TypeError, ValueError):
        return None
    if placement is None or placement.district_id is None:
        return None
    return District.objects.filter(pk=placement.district_id).first()


def notice_list_active(*, district: District | None = None, area: ServiceArea | None = None,
                       now: datetime | None = None) -> QuerySet[Notice]:
    """Notices valid now: of a district (its own and the whole city's), or all of a city."""
    now = now or timezone.now()
    notices = (Notice.objects.filter(starts_at__lte=now, ends_at__gt=now)
               .prefetch_related("districts").order_by("-starts_at", "-pk"))
    if district is not None:
        notices = notices.filter(service_area_id=district.area_id).filter(
            Q(districts=district) | Q(districts__isnull=True)).distinct()
    elif area is not None:
        notices = notices.filter(service_area=area)
    return notices


def incident_list_for_feed(*, district: District, category_code: str = "",
                           limit: int = 50) -> list[Incident]:
    """The latest incidents covered by a district (as alerts match them), public fields
    only, each with the tracking code of its first report for the link."""
    incidents = (Incident.objects.filter(location__coveredby=district.boundary)
                 .exclude(status__in=[Status.REJECTED, Status.MERGED])
                 .select_related("category", "district")
                 .only("pk", "status", "created_at", "updated_at", "resolved_at", "location",
                       "category__code", "category__name_en", "category__name_ar",
                       "category__name_fa", "district__name_en", "district__name_ar",
                       "district__name_fa")
                 .order_by("-updated_at", "-pk"))
    if category_code:
        incidents = incidents.filter(category__code=category_code)
    incidents = list(incidents[:limit])
    codes = dict(Report.objects.filter(incident_id__in=[i.pk for i in incidents])
                 .order_by("incident_id", "pk").distinct("incident_id")
                 .values_list("incident_id", "tracking_code"))
    for incident in incidents:
        incident.tracking_code = codes.get(incident.pk, "")
    return incidents
