"""Reads. Public selectors never select reporter contact fields."""

import uuid
from datetime import datetime

from django.contrib.gis.db.models import PointField
from django.contrib.gis.db.models.functions import GeometryDistance
from django.contrib.gis.geos import Point, Polygon
from django.contrib.gis.measure import D
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Cast

from incidents.codes import tracking_code_normalize
from incidents.models import (
    OPEN_STATUSES,
    Category,
    Incident,
    IncidentUpdate,
    Open311Client,
    Photo,
    Report,
    Survey,
)

PUBLIC_REPORT_FIELDS = (
    "pk", "tracking_code", "token", "category", "incident", "area", "district", "department",
    "location", "address", "description", "attributes", "channel", "language", "status",
    "joined_existing", "rejected_reason", "created_at", "updated_at",
)


def category_list_active() -> QuerySet[Category]:
    return (Category.objects.filter(active=True).select_related("department")
            .prefetch_related("attributes").order_by("group", "code"))


def category_get(code: str) -> Category | None:
    return category_list_active().filter(code=code).first()


def report_list_public() -> QuerySet[Report]:
    ready_photos = Prefetch("photos", queryset=Photo.objects.filter(state=Photo.State.READY))
    return (Report.objects.only(*PUBLIC_REPORT_FIELDS)
            .select_related("category", "incident", "district", "department",
                            "incident__referred_to")
            .prefetch_related(ready_photos))


def report_get_by_tracking_code(code: str) -> Report | None:
    return report_list_public().filter(tracking_code=tracking_code_normalize(code)).first()


def report_get_by_token(token: str) -> Report | None:
    try:
        return report_list_public().filter(token=token).first()
    except Exception:  # not a UUID
        return None


def incident_timeline_public(incident: Incident) -> QuerySet[IncidentUpdate]:
    """Status changes and public notes; who made them stays internal."""
    return IncidentUpdate.objects.filter(incident=incident, public=True).order_by("created_at",
                                                                                  "pk")


def incident_list(*, statuses: list[str] | None = None, category_codes: list[str] | None = None,
                  district_codes: list[str] | None = None,
                  department_ids: list[int] | None = None,
                  created_from: datetime | None = None, created_to: datetime | None = None,
                  bbox: Polygon | None = None) -> QuerySet[Incident]:
    """Incidents for the map and open data; `bbox` is a lon/lat rectangle (SRID 4326)."""
    queryset = Incident.objects.select_related("category", "district", "department")
    if bbox is not None:
        # A map's bbox is a lon/lat rectangle, so it is tested planar. On the geography column
        # its edges would be great circles: a box wider than 180° would mean the other side of
        # the world, and one with ±180° edges makes PostGIS raise "antipodal edge".
        queryset = queryset.annotate(
            location_planar=Cast("location", PointField(srid=4326))
        ).filter(location_planar__intersects=bbox)
    if statuses:
        queryset = queryset.filter(status__in=statuses)
    if category_codes:
        queryset = queryset.filter(category__code__in=category_codes)
    if district_codes:
        queryset = queryset.filter(district__code__in=district_codes)
    if department_ids is not None:
        queryset = queryset.filter(department_id__in=department_ids)
    if created_from:
        queryset = queryset.filter(first_reported_at__gte=created_from)
    if created_to:
        queryset = queryset.filter(first_reported_at__lte=created_to)
    return queryset.order_by("-priority", "-pk")


def incident_list_open_near(*, category: Category, point: Point,
                            radius_m: float) -> QuerySet[Incident]:
    return (Incident.objects.filter(category=category, status__in=OPEN_STATUSES,
                                    location__dwithin=(point, D(m=radius_m)))
            .select_related("category", "district")
            .annotate(distance=GeometryDistance("location", point))
            .order_by("distance"))


def open311_client_get_active(api_key: str) -> Open311Client | None:
    if not api_key:
        return None
    return Open311Client.objects.filter(api_key=api_key, active=True).first()


def report_list_open311(*, extensions: bool = False, tracking_codes: list[str] | None = None,
                        category_codes: list[str] | None = None, is_open: bool | None = None,
                        created_from: datetime | None = None,
                        created_to: datetime | None = None, near: Point | None = None,
                        radius_m: float = 500.0) -> QuerySet[Report]:
    """Public reports, newest first, each incident with its public notes newest first
    (`public_notes`) and, with `extensions`, the tracking code of its incident's first
    report (`first_of_incident`)."""
    notes = (IncidentUpdate.objects.filter(public=True).exclude(note="")
             .order_by("-created_at", "-pk"))
    queryset = report_list_public().prefetch_related(
        Prefetch("incident__updates", queryset=notes, to_attr="public_notes"))
    if extensions:
        first = (Report.objects.filter(incident=OuterRef("incident"))
                 .order_by("created_at", "pk").values("tracking_code")[:1])
        queryset = queryset.annotate(first_of_incident=Subquery(first))
    if tracking_codes is not None:
        queryset = queryset.filter(tracking_code__in=tracking_codes)
    if category_codes:
        queryset = queryset.filter(category__code__in=category_codes)
    if is_open is True:
        queryset = queryset.filter(status__in=OPEN_STATUSES)
    elif is_open is False:
        queryset = queryset.exclude(status__in=OPEN_STATUSES)
    if created_from is not None:
        queryset = queryset.filter(created_at__gte=created_from)
    if created_to is not None:
        queryset = queryset.filter(created_at__lte=created_to)
    if near is not None:
        queryset = queryset.filter(location__dwithin=(near, D(m=radius_m)))
    return queryset.order_by("-created_at", "-pk")


def report_updates_public(report: Report) -> QuerySet[IncidentUpdate]:
    """The public timeline of the report's incident, each row with the status it left the
    incident in (`status_then`): a note carries the status of the change before it."""
    status_then = (IncidentUpdate.objects.filter(incident=OuterRef("incident"),
                                                 pk__lte=OuterRef("pk"))
                   .exclude(to_status="").order_by("-pk").values("to_status")[:1])
    return incident_timeline_public(report.incident).annotate(status_then=Subquery(status_then))


def survey_get_by_token(token: str) -> Survey | None:
    """The survey its link names, with what its page shows (never the reporter's contact)."""
    try:
        uuid.UUID(str(token))
    except ValueError:
        return None
    return (Survey.objects.select_related("report__category", "report__incident")
            .defer("report__reporter_name", "report__reporter_email", "report__reporter_phone",
                   "report__request_fingerprint", "report__idempotency_key",
                   "report__client_ip")
            .filter(token=token).first())
