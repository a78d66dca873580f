"""Reads for the dispatcher console's live map.

The map asks only for its viewport. At low zoom it gets grid clusters computed in the
database (`ST_SnapToGrid` on the planar point, one row per occupied cell); at high zoom the
incidents themselves, capped. Every query filters the box on
`location::geometry(Point,4326)`, the exact expression the GiST index
`incident_location_planar` is built on (the same Cast as `selectors.incident_list`), so the
box is an index scan whatever the table size. The test is the bounding-box operator `&&`:
for points against a lon/lat rectangle it is exact, and unlike `ST_Intersects` it carries no
per-row cost (PostGIS declares its functions expensive, which also made the planner
JIT-compile these short queries: ~0.5 s of compiling for a 0.1 s query).
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.gis.db.models import GeometryField, PointField
from django.contrib.gis.geos import Polygon
from django.contrib.postgres.aggregates import BoolOr
from django.db import connection, transaction
from django.db.models import (
    Avg,
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Window,
)
from django.db.models.functions import Cast, Substr

from incidents.models import OPEN_STATUSES, Incident, Report, Status

# Cluster cells are about this many screen pixels wide.
CELL_PX = 72
# From this zoom on the map gets the incidents themselves (a city block fills the screen).
POINTS_ZOOM = 16
POINTS_CAP = 5000
LIST_CAP = 100
SUMMARY_CHARS = 160


def location_planar() -> Cast:
    """The indexed expression: keep it identical to the index and to selectors.incident_list."""
    return Cast("location", PointField(srid=4326))


class SnapToGrid(Func):
    function = "ST_SnapToGrid"
    output_field = GeometryField(srid=4326)


class StX(Func):
    function = "ST_X"
    output_field = FloatField()


class StY(Func):
    function = "ST_Y"
    output_field = FloatField()


@dataclass(frozen=True)
class MapFilters:
    statuses: tuple[str, ...] = tuple(OPEN_STATUSES)
    category_codes: tuple[str, ...] = ()
    district_codes: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    department_ids: tuple[int, ...] | None = None
    # Age of the problem: hours since its first report.
    min_age_h: float | None = None
    max_age_h: float | None = None
    sla_breached_only: bool = False


def cell_size_deg(*, zoom: int, lat: float) -> tuple[float, float]:
    """Grid cell (width, height) in degrees that is about CELL_PX pixels square on a Web
    Mercator map at `zoom`: a degree of latitude spans 1/cos(lat) times the pixels of a degree
    of longitude, so the cell is that much shorter in degrees."""
    width = 360.0 / (2 ** zoom) * CELL_PX / 256.0
    height = width * max(0.05, math.cos(math.radians(max(-85.0, min(85.0, lat)))))
    return width, height


@contextmanager
def map_reads() -> Iterator[None]:
    """One transaction (one snapshot) for a map request's reads, without JIT: a box over the
    whole city is a sequential scan whose estimated cost passes `jit_above_cost`, and
    compiling takes longer than the query. A bigger `work_mem` lets the grid be aggregated
    in a hash table instead of a sort spilled to disk."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('jit', 'off', true), "
                       "set_config('work_mem', '32MB', true)")
        yield


def _breached(now: datetime) -> ExpressionWrapper:
    return ExpressionWrapper(Q(status__in=OPEN_STATUSES, sla_due_at__lt=now),
                             output_field=BooleanField())


def incident_list_map(*, bbox: Polygon, filters: MapFilters, now: datetime,
                      statuses_apply: bool = True) -> QuerySet[Incident]:
    """Incidents in the lon/lat box that pass the console's filters, unordered."""
    queryset = (Incident.objects.annotate(location_planar=location_planar())
                .filter(location_planar__bboverlaps=bbox))
    if statuses_apply and filters.statuses:
        queryset = queryset.filter(status__in=filters.statuses)
    if filters.category_codes:
        queryset = queryset.filter(category__code__in=filters.category_codes)
    if filters.district_codes:
        queryset = queryset.filter(district__code__in=filters.district_codes)
    if filters.department_ids is not None:
        queryset = queryset.filter(department_id__in=filters.department_ids)
    if filters.channels:
        queryset = queryset.filter(Exists(Report.objects.filter(
            incident=OuterRef("pk"), channel__in=filters.channels)))
    if filters.max_age_h is not None:
        queryset = queryset.filter(first_reported_at__gte=now - timedelta(hours=filters.max_age_h))
    if filters.min_age_h is not None:
        queryset = queryset.filter(first_reported_at__lte=now - timedelta(hours=filters.min_age_h))
    if filters.sla_breached_only:
        queryset = queryset.filter(status__in=OPEN_STATUSES, sla_due_at__lt=now)
    return queryset.order_by()


def incident_clusters(*, bbox: Polygon, filters: MapFilters, zoom: int,
                      now: datetime) -> list[dict]:
    """One row per occupied grid cell: how many incidents, where their centre is, the highest
    priority, whether any has breached its SLA, how many are in each status (the dominant
    one is `status`) and the report total. A cell holding one incident also carries that
    incident's id and category.

    Per-status counts rather than `mode()`: an ordered-set aggregate forces a sort of every
    row, while plain aggregates let PostgreSQL group in a hash table."""
    width, height = cell_size_deg(zoom=zoom, lat=bbox.centroid.y)
    statuses = list(filters.statuses or Status.values)
    per_status = {f"n_{s}": Count("pk", filter=Q(status=s)) for s in statuses}
    fields = ("count", "lon", "lat", "max_priority", "sla_breached", "reports",
              "incident_id", "category_id", *per_status)
    rows = (incident_list_map(bbox=bbox, filters=filters, now=now)
            .annotate(cell=SnapToGrid(location_planar(), width, height))
            .values("cell")
            .annotate(count=Count("pk"), lon=Avg(StX(location_planar())),
                      lat=Avg(StY(location_planar())), max_priority=Max("priority"),
                      sla_breached=BoolOr(_breached(now)), reports=Sum("report_count"),
                      incident_id=Min("pk"), category_id=Min("category_id"), **per_status)
            .values_list(*fields))
    clusters = []
    for row in rows:
        cell = dict(zip(fields, row, strict=True))
        counts = {s: cell.pop(f"n_{s}") for s in statuses}
        counts = {s: n for s, n in counts.items() if n}
        cell["statuses"] = counts
        cell["status"] = max(counts, key=lambda s: (counts[s], -statuses.index(s)))
        if cell["count"] != 1:
            cell["incident_id"] = cell["category_id"] = None
        clusters.append(cell)
    return clusters


POINT_FIELDS = ("pk", "lon", "lat", "status", "priority", "category_id", "report_count",
                "sla_breached")
LIST_FIELDS = (*POINT_FIELDS, "district_id", "first_reported_at", "updated_at", "version")


def _point_rows(queryset: QuerySet[Incident], now: datetime) -> QuerySet:
    return queryset.annotate(lon=StX(F("location_planar")), lat=StY(F("location_planar")),
                             sla_breached=_breached(now))


def incident_points(*, bbox: Polygon, filters: MapFilters, now: datetime,
                    cap: int = POINTS_CAP) -> tuple[list[dict], int]:
    """The incidents in the box, most urgent first, at most `cap`; and how many there are."""
    rows = (_point_rows(incident_list_map(bbox=bbox, filters=filters, now=now), now)
            .annotate(total=Window(Count("pk")))
            .order_by("-priority", "-pk")
            .values_list(*POINT_FIELDS, "total")[:cap])
    points, total = [], 0
    for row in rows:
        total = row[-1]
        points.append(dict(zip(POINT_FIELDS, row[:-1], strict=True)))
    return points, total


def incident_changes_since(*, bbox: Polygon, filters: MapFilters, since: datetime,
                           now: datetime, cap: int = POINTS_CAP) -> list[dict]:
    """Incidents in the box changed since `since`, whatever their status now (a resolved one
    must leave the map), newest change first."""
    rows = (_point_rows(incident_list_map(bbox=bbox, filters=filters, now=now,
                                          statuses_apply=False), now)
            .filter(updated_at__gte=since)
            .order_by("-updated_at", "-pk")
            .values_list(*POINT_FIELDS)[:cap])
    return [dict(zip(POINT_FIELDS, row, strict=True)) for row in rows]


def incident_list_panel(*, bbox: Polygon, filters: MapFilters, now: datetime,
                        cap: int = LIST_CAP) -> list[dict]:
    """The most urgent incidents in the box for the side panel, with the first report's
    description (citizen text: the page must escape it) and address."""
    first = Report.objects.filter(incident=OuterRef("pk")).order_by("created_at", "pk")
    rows = (_point_rows(incident_list_map(bbox=bbox, filters=filters, now=now), now)
            .annotate(summary=Substr(Subquery(first.values("description")[:1]), 1,
                                     SUMMARY_CHARS),
                      address=Subquery(first.values("address")[:1]))
            .order_by("-priority", "-pk")
            .values_list(*LIST_FIELDS, "summary", "address")[:cap])
    fields = (*LIST_FIELDS, "summary", "address")
    return [dict(zip(fields, row, strict=True)) for row in rows]
