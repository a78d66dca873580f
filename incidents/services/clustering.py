"""Periodic re-clustering: open incidents of one category that grew together are merged.

Intake attaches each report to the nearest incident within the category's radius, so two
incidents can end up closer than that radius (their means drift as reports arrive, or two
reports landed before a dispatcher split). ST_ClusterDBSCAN finds such groups in the area's
metric projection; each group is merged into its incident with the most reports.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from gis.models import ServiceArea
from incidents.exceptions import DomainError
from incidents.models import CLUSTERABLE_STATUSES, Category, Incident, Status
from incidents.priority import priority_score
from incidents.services.workflow import incident_merge

logger = logging.getLogger(__name__)

# DBSCAN in the area's metric projection finds groups; each member's distance to its group's
# keeper (most reports, then oldest) is measured on the spheroid, in metres.
DBSCAN_SQL = """
WITH clustered AS (
    SELECT i.id, i.location, i.report_count, i.first_reported_at,
           ST_ClusterDBSCAN(ST_Transform(i.location::geometry, %(srid)s),
                            eps := %(eps)s, minpoints := 2) OVER () AS cid
    FROM incidents_incident i
    WHERE i.category_id = %(category)s AND i.area_id = %(area)s
      AND i.status = ANY(%(statuses)s) AND i.last_reported_at >= %(since)s
), ranked AS (
    SELECT id, cid, location,
           first_value(location) OVER w AS keeper_location,
           row_number() OVER w AS rank
    FROM clustered
    WHERE cid IS NOT NULL
    WINDOW w AS (PARTITION BY cid ORDER BY report_count DESC, first_reported_at, id)
)
SELECT id, cid, ST_Distance(location, keeper_location) AS distance_m
FROM ranked
ORDER BY cid, rank
"""


@dataclass(frozen=True)
class ReclusterResult:
    groups: int
    merged: int


def incident_groups_find(*, category: Category, area: ServiceArea) -> list[list[int]]:
    """Groups of incident ids within the category's radius; the first id is the keeper.

    DBSCAN chains (A near B near C puts A and C together however far apart they are), so a
    group keeps only the incidents within the radius of its keeper: a row of potholes 25 m
    apart along a road stays several incidents. Those left out are looked at on the next run.
    """
    radius_m = category.cluster_radius_m
    since = timezone.now() - timedelta(hours=category.cluster_window_hours)
    with connection.cursor() as cursor:
        cursor.execute(DBSCAN_SQL, {"srid": area.projection_srid, "eps": radius_m,
                                    "category": category.pk, "area": area.pk,
                                    "statuses": list(CLUSTERABLE_STATUSES), "since": since})
        rows = cursor.fetchall()
    groups: dict[int, list[int]] = {}
    for incident_id, cid, distance_m in rows:
        if distance_m <= radius_m:
            groups.setdefault(cid, []).append(incident_id)
    return [ids for ids in groups.values() if len(ids) > 1]


def incidents_recluster() -> ReclusterResult:
    groups_total = merged = 0
    for area in ServiceArea.objects.all():
        for category in Category.objects.filter(active=True):
            for ids in incident_groups_find(category=category, area=area):
                groups_total += 1
                keeper = Incident(pk=ids[0])
                for other in ids[1:]:
                    try:
                        incident_merge(source=Incident(pk=other), target=keeper, by=None,
                                       note=_("Merged automatically: the same problem was "
                                              "reported as #%(a)s and #%(b)s.")
                                       % {"a": ids[0], "b": other})
                        merged += 1
                    except DomainError as exc:
                        # Changed status since the scan (a dispatcher acted): skip it.
                        logger.info("recluster skipped %s into %s: %s", other, ids[0], exc)
    return ReclusterResult(groups=groups_total, merged=merged)


def incidents_reprioritize(*, batch_size: int = 2000) -> int:
    """Recompute priority of open incidents: age against the SLA grows with time, and an
    active storm mode raises its hazard's categories."""
    from crews.selectors_storm import storm_priority_bonuses  # crews depends on incidents

    now = timezone.now()
    bonuses = storm_priority_bonuses(now=now)
    changed = 0
    queryset = (Incident.objects.open().select_related("category")
                .only("pk", "area_id", "category_id", "severity", "report_count",
                      "first_reported_at", "priority", "status", "category__sla_hours")
                .order_by("pk"))
    last_pk = 0
    while True:
        batch = list(queryset.filter(pk__gt=last_pk)[:batch_size])
        if not batch:
            break
        last_pk = batch[-1].pk
        dirty = []
        for incident in batch:
            score = priority_score(severity=incident.severity, report_count=incident.report_count,
                                   first_reported_at=incident.first_reported_at,
                                   sla_hours=incident.category.sla_hours, now=now,
                                   reopened=incident.status == Status.REOPENED,
                                   emergency_bonus=bonuses.get(
                                       (incident.area_id, incident.category_id), 0.0))
            if score != incident.priority:
                incident.priority = score
                dirty.append(incident)
        Incident.objects.bulk_update(dirty, ["priority"])
        changed += len(dirty)
    return changed
