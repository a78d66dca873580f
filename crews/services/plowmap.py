"""The plow map: winter crews' GPS traces matched to road edges (passes), and the public map's
data, built once a minute into the cache.

**Passes.** `plow_passes_match` reads each winter crew's pings newer than its watermark
(`gis.TraceWatermark`: the last ping id read), matches them to edges (gis.matching) and
stores one `gis.RoadPass` per edge driven and task. Tasks come from the crew's equipment:
a plow blade (`plow`) plows, a spreader (`salt-spreader`) salts and grits; a truck with both
does both on one drive (as Helsinki's maintenance feed records them, kept apart). Ids, not
times, mark progress, so a phone's queue replayed late is matched too (as a trace of its
own); pings younger than `SETTLE_S` wait for the next run, so a batch still being written
is not skipped. One crew's run is one transaction with its watermark locked: run twice, or
by two workers, nothing is stored twice (the unique (crew, edge, task, time) key backs
that). A drive cut in two by the run boundary is one pass: the watermark keeps the edge the
crew was last on.

**The public map.** `plow_map_refresh` writes two GeoJSON documents to the cache:
- edges: every main road (motorway to tertiary: what plows clear first) and every edge
  passed in the last `RASAD_PLOW_MAP_HOURS`, with its class, priority rank and the last
  pass per task; crews appear only as an opaque vehicle id (an HMAC of the crew's id);
- vehicles: each winter crew where it was `RASAD_PLOW_DELAY_MINUTES` ago (its last ping
  before then, if fresh), by the same opaque id.
The views return the cached bytes (and answer 503 before the first build): a visitor costs
no query, so a storm night's crowd cannot take the database down with it.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from crews.models import Crew, CrewPosition
from crews.services.snow import road_class_rank
from gis.matching import GAP_S, Ping, match
from gis.models import RoadEdge, RoadNetwork, RoadPass, ServiceArea, TraceWatermark
from incidents.models import Category

logger = logging.getLogger(__name__)

SKILL_TASKS = {"plow": RoadPass.Task.PLOWING, "salt-spreader": RoadPass.Task.SALTING}
SETTLE_S = 20
MAX_PINGS_PER_RUN = 50_000  # per crew: a day at one ping a second
# A vehicle whose last ping before the delayed time is older than this is not shown.
VEHICLE_STALE_MINUTES = 15
MAIN_CLASSES = ["motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
                "secondary", "secondary_link", "tertiary", "tertiary_link"]
CACHE_EDGES = "plowmap:edges"
CACHE_VEHICLES = "plowmap:vehicles"
CACHE_TIMEOUT_S = 3600


@dataclass(frozen=True)
class MatchRun:
    crews: int
    pings: int  # read
    kept: int  # left after thinning a parked vehicle's jitter
    matched: int  # of those kept, matched to an edge
    passes: int


def crew_tasks(skills: list[str]) -> list[str]:
    return [task for skill, task in SKILL_TASKS.items() if skill in skills]


def vehicle_id(crew_id: int) -> str:
    """An opaque, stable id for a crew's vehicle on the public map: no name, no code."""
    return "v-" + salted_hmac("rasad.plowmap.vehicle", str(crew_id)).hexdigest()[:10]


def winter_crews():
    return Crew.objects.filter(skills__overlap=list(SKILL_TASKS)).order_by("pk")


def plow_passes_match(*, now: datetime | None = None) -> MatchRun:
    """Match every winter crew's new pings; see the module docstring."""
    network = RoadNetwork.objects.order_by("-pk").first()
    if network is None or not RoadEdge.objects.exists():
        return MatchRun(crews=0, pings=0, kept=0, matched=0, passes=0)
    before = (now or timezone.now()) - timedelta(seconds=SETTLE_S)
    totals = [0, 0, 0, 0]
    crews = list(winter_crews().values_list("pk", "skills"))
    for crew_id, skills in crews:
        counts = plow_passes_match_crew(crew_id=crew_id, tasks=crew_tasks(skills),
                                        network=network, before=before)
        totals = [total + n for total, n in zip(totals, counts, strict=True)]
    return MatchRun(crews=len(crews), pings=totals[0], kept=totals[1], matched=totals[2],
                    passes=totals[3])


@transaction.atomic
def plow_passes_match_crew(*, crew_id: int, tasks: list[str], network: RoadNetwork,
                           before: datetime) -> tuple[int, int, int, int]:
    """One crew's new pings (received before `before`) to passes. Locks its watermark.
    Returns (pings read, kept, matched, passes stored)."""
    TraceWatermark.objects.get_or_create(crew_id=crew_id)
    mark = TraceWatermark.objects.select_for_update().get(crew_id=crew_id)
    # Plain SQL: coordinates as floats, not a GEOS object per ping (a day is 17,000 pings).
    with connection.cursor() as cursor:
        cursor.execute(_PINGS_SQL, [crew_id, mark.last_position_id, before, MAX_PINGS_PER_RUN])
        rows = cursor.fetchall()
    if not rows:
        return 0, 0, 0, 0
    pings = [Ping(lon=lon, lat=lat, at=at, accuracy_m=acc) for _pk, lon, lat, at, acc in rows]
    result = match(pings)
    traversals = result.traversals
    if (traversals and mark.last_edge_id == traversals[0].edge_id
            and mark.last_forward == traversals[0].forward and mark.last_at is not None
            and timedelta(0) <= traversals[0].at - mark.last_at <= timedelta(seconds=GAP_S)):
        traversals = traversals[1:]  # the drive the previous run ended on, going on
    created = 0
    if traversals and tasks:
        columns = [[t.edge_id for t in traversals for _task in tasks],
                   [task for _t in traversals for task in tasks],
                   [t.forward for t in traversals for _task in tasks],
                   [t.at for t in traversals for _task in tasks]]
        with connection.cursor() as cursor:
            cursor.execute(_PASSES_SQL, [network.pk, crew_id, timezone.now(), *columns])
            created = cursor.rowcount
    mark.last_position_id = rows[-1][0]
    newest = max(row[3] for row in rows)
    if result.traversals and (mark.last_at is None or newest >= mark.last_at):
        final = result.traversals[-1]
        mark.last_edge_id, mark.last_forward = final.edge_id, final.forward
        mark.last_at = newest
    mark.save(update_fields=["last_position_id", "last_edge_id", "last_forward", "last_at",
                             "updated_at"])
    return len(rows), result.kept, result.matched, created


_PINGS_SQL = f"""
    SELECT id, ST_X(location), ST_Y(location), recorded_at, accuracy_m
    FROM {CrewPosition._meta.db_table}
    WHERE crew_id = %s AND id > %s AND received_at < %s
    ORDER BY id LIMIT %s
"""

# The unique (crew, edge, task, time) key makes a pass stored twice a no-op.
_PASSES_SQL = f"""
    INSERT INTO {RoadPass._meta.db_table}
        (network_id, crew_id, created_at, edge_id, task, forward, passed_at)
    SELECT %s, %s, %s, * FROM unnest(%s::bigint[], %s::varchar[], %s::boolean[],
                                     %s::timestamptz[])
    ON CONFLICT DO NOTHING
"""


# --- The public map's data.

_EDGES_SQL = f"""
    WITH latest AS (
        SELECT DISTINCT ON (edge_id, task) edge_id, task, passed_at, crew_id
        FROM {RoadPass._meta.db_table}
        WHERE network_id = %(network)s AND passed_at >= %(since)s
        ORDER BY edge_id, task, passed_at DESC
    )
    SELECT e.id, e.name, e.road_class, ST_AsGeoJSON(e.geom, 6),
           p.passed_at, p.crew_id, s.passed_at, s.crew_id
    FROM {RoadEdge._meta.db_table} e
    LEFT JOIN latest p ON p.edge_id = e.id AND p.task = 'plowing'
    LEFT JOIN latest s ON s.edge_id = e.id AND s.task = 'salting'
    WHERE e.road_class = ANY(%(classes)s) OR p.edge_id IS NOT NULL OR s.edge_id IS NOT NULL
    ORDER BY e.id
"""

_VEHICLES_SQL = f"""
    SELECT c.id, c.skills, p.recorded_at, ST_X(p.location), ST_Y(p.location), p.heading_deg
    FROM {Crew._meta.db_table} c
    CROSS JOIN LATERAL (
        SELECT recorded_at, location, heading_deg FROM {CrewPosition._meta.db_table}
        WHERE crew_id = c.id AND recorded_at <= %(until)s AND recorded_at > %(since)s
        ORDER BY recorded_at DESC LIMIT 1
    ) p
    WHERE c.skills && %(skills)s AND c.active
    ORDER BY c.id
"""


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at else None


def plow_map_edges(*, now: datetime) -> dict:
    """The edges FeatureCollection (see the module docstring)."""
    network = RoadNetwork.objects.order_by("-pk").values_list("pk", flat=True).first()
    features = []
    if network is not None:
        since = now - timedelta(hours=settings.RASAD_PLOW_MAP_HOURS)
        with connection.cursor() as cursor:
            cursor.execute(_EDGES_SQL, {"network": network, "since": since,
                                        "classes": MAIN_CLASSES})
            rows = cursor.fetchall()
        for edge_id, name, road_class, geometry, plowed_at, plowed_by, salted_at, salted_by \
                in rows:
            features.append({
                "type": "Feature", "id": edge_id, "geometry": json.loads(geometry),
                "properties": {
                    "edge": edge_id, "name": name, "road_class": road_class,
                    "priority": road_class_rank(road_class),
                    "last_plowed_at": _iso(plowed_at),
                    "plowed_by": vehicle_id(plowed_by) if plowed_by else None,
                    "last_salted_at": _iso(salted_at),
                    "salted_by": vehicle_id(salted_by) if salted_by else None,
                },
            })
    return {"type": "FeatureCollection", "generated_at": _iso(now), "network": network,
            "window_hours": settings.RASAD_PLOW_MAP_HOURS,
            "licence": {"name": settings.RASAD_OPEN_DATA_LICENCE,
                        "url": settings.RASAD_OPEN_DATA_LICENCE_URL},
            "features": features}


def plow_map_vehicles(*, now: datetime) -> dict:
    """Winter crews where they were RASAD_PLOW_DELAY_MINUTES ago."""
    until = now - timedelta(minutes=settings.RASAD_PLOW_DELAY_MINUTES)
    with connection.cursor() as cursor:
        cursor.execute(_VEHICLES_SQL, {"until": until,
                                       "since": until - timedelta(minutes=VEHICLE_STALE_MINUTES),
                                       "skills": list(SKILL_TASKS)})
        rows = cursor.fetchall()
    features = [{
        "type": "Feature", "id": vehicle_id(crew_id),
        "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
        "properties": {"vehicle": vehicle_id(crew_id), "tasks": crew_tasks(skills),
                       "at": _iso(at), "heading_deg": heading},
    } for crew_id, skills, at, lon, lat, heading in rows]
    area = ServiceArea.objects.order_by("pk").values_list("boundary", flat=True).first()
    # The map's "report snow here" link opens the citizen page on this category.
    category = (Category.objects.filter(is_winter=True, active=True).order_by("pk")
                .values_list("code", flat=True).first())
    return {"type": "FeatureCollection", "generated_at": _iso(now), "as_of": _iso(until),
            "delay_minutes": settings.RASAD_PLOW_DELAY_MINUTES,
            "bbox": list(area.extent) if area else None, "report_category": category,
            "features": features}


def _cache_put(key: str, document: dict) -> None:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    cache.set(key, {"body": body, "etag": hashlib.sha256(body).hexdigest()[:20],
                    "generated_at": document["generated_at"]}, timeout=CACHE_TIMEOUT_S)


def plow_map_refresh(*, now: datetime | None = None) -> dict:
    """Build both documents and put them in the cache; returns their sizes."""
    now = now or timezone.now()
    edges = plow_map_edges(now=now)
    vehicles = plow_map_vehicles(now=now)
    _cache_put(CACHE_EDGES, edges)
    _cache_put(CACHE_VEHICLES, vehicles)
    return {"edges": len(edges["features"]), "vehicles": len(vehicles["features"])}
