"""Snow mode: plow routes that cover every road of the chosen classes in a district.

An arc-routing heuristic over the imported road network (gis.models.RoadEdge), in five steps:

1. **Required arcs.** The edges of the chosen classes (a class brings its `_link` roads)
   whose geometry intersects the district grown by `DISTRICT_BUFFER_M` (a road drawn along
   the border belongs to it). An edge crossing the border is plowed whole. What one edge
   owes is a set of *passes*:
   - a one-way road: one pass, in its direction;
   - a two-way motorway, trunk or primary (`BOTH_WAYS_CLASSES`, links included): one pass in
     each direction. A pass clears the lanes on the plow's right and throws the snow to the
     kerb, so a two-lane arterial needs both. (Dual carriageways are two one-way ways in
     OSM already, so they are two one-way passes anyway.);
   - any other two-way road: one pass, in either direction (a street narrow enough to clear
     in one pass; the plow picks the direction that suits its route).
2. **Ranks.** motorway, trunk > primary > secondary > tertiary > residential, unclassified >
   everything else; `X_link` ranks with `X`. Every plow clears all its passes of one rank
   before any of the next (ranks never interleave within a route).
3. **Split across k plows**, balancing required length (metres × passes). Edge midpoints
   (in metres) are clustered by a size-balanced k-means: k-means whose assignment takes
   (edge, cluster) pairs nearest first while the cluster has room (full at
   `1 + BALANCE_SLACK` times its share), seeded by k equal-length chunks along the principal
   axis (deterministic, and right for valleys). The k territories are matched to the plows
   by depot distance (Hungarian). Two splits come out of them:
   - "ranks": every rank is split again by the same balanced k-means, seeded from the
     territory centres, so each rank is shared equally by all plows (a plow's share of a
     sparse rank, the one primary road, lies towards its territory) and finishes at about
     the same time everywhere;
   - "territories": each plow keeps its territory, balanced on the total only (less
     deadheading when every territory has its share of main roads anyway, as in a valley).
   Both are routed (step 4) and the plan keeps the one whose ranks are plowed everywhere
   sooner: the lower sum over ranks of the time the last plow finishes the rank, then the
   earlier return of the last plow.
4. **Route per plow**, from the depot's snapped vertex back to it, rank after rank. Passes
   of the current rank a deadhead path runs over are plowed on the way, passes of lower
   ranks are not (the plow would slow down, and primaries would wait). Two constructions;
   the plow gets the faster route:
   - "greedy": repeatedly deadhead along the fastest path (scipy Dijkstra on
     `gis.routing.RoadGraph`, packed costs: fastest, then shortest; the search `limit`
     grows, so a search usually settles only the neighbourhood) to the nearest open pass of
     the rank and plow it; a pass leaving the vertex the plow stands on is taken without a
     search, preferring one that leads on to more work;
   - "euler" (the rural postman heuristic): join the rank's pieces with the fastest paths
     along a minimum spanning tree, orient the either-way passes by the rounded LP
     relaxation of the in/out balance (scipy HiGHS), add the fastest deadhead paths that
     balance every vertex (an assignment from vertices with more passes in than out to
     those with more out than in; one end is free, chosen near the next rank's passes),
     and walk the Euler trail (Hierholzer).
   Consecutive steps share their vertex, so a route is continuous and drivable (one-way
   roads only forwards) from the depot vertex back to it.
5. **Store.** One `RoutePlan(kind=snow)` per plow (engine "snow-coverage", matrix_source
   "road_network"), superseding only the crew's previous published snow plan; its geometry
   is the merged path, `covered_edges` the edges plowed in order. Open snow incidents
   (category.is_winter; new, verified or reopened, or pending on the superseded snow plans)
   within `INCIDENT_MATCH_M` of a plowed edge become stops of the plan that plows the
   nearest such edge, with eta = when the plow starts plowing it; they move to `assigned`.

Reachability: passes a plow could not drive from its depot and back (one-way islands, roads
outside the loaded network) go to another plow that can, or are reported in `unreachable`;
nothing is dropped silently.

Times: deadheading at the road's speed (`cost`), plowing at `PLOW_SPEED_KMH` or the road's
speed where that is lower. Distances and times start and end at the depot's vertex (the
yard's stretch to the road is not part of the route).
"""

import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import shapely
from django.contrib.gis.geos import GEOSGeometry, Point
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from crews.models import Crew, RoutePlan, RouteStop, Shift
from gis.models import District, RoadEdge, ServiceArea
from gis.routing import (
    DIJKSTRA_CELLS_PER_CALL,
    PACK_DURATION_UNITS,
    PACK_LENGTH_UNITS,
    PACK_SHIFT,
    RoadGraph,
    network_loaded,
    road_graph,
    routing_box,
    snap,
)
from incidents.exceptions import DomainError
from incidents.models import Category, Incident, Status
from incidents.services import incident_transition

logger = logging.getLogger(__name__)

ENGINE = "snow-coverage"
PLOW_SKILL = "plow"
DEFAULT_ROAD_CLASSES = ("motorway", "trunk", "primary", "secondary", "tertiary")
# Ranks by OSM highway=* (without "_link"); anything else ranks OTHER_RANK.
CLASS_RANKS = {"motorway": 0, "trunk": 0, "primary": 1, "secondary": 2, "tertiary": 3,
               "residential": 4, "unclassified": 4}
OTHER_RANK = 5
# Two-way roads of these classes (and their links) are plowed once in each direction.
BOTH_WAYS_CLASSES = frozenset({"motorway", "trunk", "primary"})
DISTRICT_BUFFER_M = 10.0
PLOW_SPEED_KMH = 30.0
BALANCE_SLACK = 0.05
KMEANS_ITERATIONS = 30
RANK_KMEANS_ITERATIONS = 10
INCIDENT_MATCH_M = 25.0
SNOW_INCIDENT_STATUSES = (Status.NEW, Status.VERIFIED, Status.REOPENED)
# Dijkstra limits in seconds of driving, widened until a pass is found.
SEARCH_LIMITS_S = (120.0, 900.0, math.inf)
# The orientation LP's roads: those within this many seconds of driving of the passes.
ORIENT_REACH_S = 300.0
METRES_PER_DEGREE = 111_320.0

_EDGES = RoadEdge._meta.db_table

_REQUIRED_SQL = f"""
    WITH zone AS (
        SELECT ST_Transform(ST_Buffer(ST_Transform(boundary, %s), %s), 4326) AS geom
        FROM {District._meta.db_table} WHERE id = %s
    )
    SELECT e.id, e.source, e.target, e.cost, e.reverse_cost, e.length_m, e.road_class,
           ST_X(ST_LineInterpolatePoint(e.geom, 0.5)), ST_Y(ST_LineInterpolatePoint(e.geom, 0.5))
    FROM {_EDGES} e, zone
    WHERE e.road_class = ANY(%s) AND ST_Intersects(e.geom, zone.geom)
    ORDER BY e.id
"""

_STEP_EDGES_SQL = f"""
    SELECT id, cost, reverse_cost, length_m, road_class, ST_AsBinary(geom)
    FROM {_EDGES} WHERE id = ANY(%s::bigint[])
"""

# Each open snow incident near a plowed edge, with the nearest such edge. The box (0.001°
# ≥ 55 m below 60° of latitude) only narrows the candidates; the test is in metres.
_INCIDENT_MATCH_SQL = f"""
    WITH covered AS (
        SELECT id, geom FROM {_EDGES} WHERE id = ANY(%s::bigint[])
    ), box AS (
        SELECT ST_Expand(ST_Extent(geom)::geometry, 0.001) AS geom FROM covered
    )
    SELECT i.id, m.edge_id
    FROM {Incident._meta.db_table} i
    JOIN {Category._meta.db_table} c ON c.id = i.category_id
    CROSS JOIN box
    CROSS JOIN LATERAL (
        SELECT covered.id AS edge_id
        FROM covered
        WHERE ST_DWithin(covered.geom::geography, i.location, %s)
        ORDER BY ST_Distance(covered.geom::geography, i.location), covered.id
        LIMIT 1
    ) AS m
    WHERE c.is_winter AND (i.status = ANY(%s) OR i.id = ANY(%s::bigint[]))
      AND i.location::geometry && box.geom
    ORDER BY i.id
"""


class SnowPlanRefused(DomainError):
    """A snow plan that cannot be made as asked (400, with a code saying why)."""


def road_class_rank(road_class: str) -> int:
    return CLASS_RANKS.get(road_class.removesuffix("_link"), OTHER_RANK)


@dataclass(frozen=True)
class RequiredEdge:
    """A road edge the plan must plow, and in which directions (see the module docstring)."""

    edge_id: int
    source: int
    target: int
    length_m: float
    road_class: str
    rank: int
    passes: tuple[tuple[bool, ...], ...]  # each pass: the directions (forward?) that do it
    lon: float
    lat: float

    @property
    def required_m(self) -> float:
        return self.length_m * len(self.passes)


@dataclass(frozen=True)
class Step:
    """One edge driven: `forward` along its geometry; `served` if plowed, else deadhead."""

    edge_id: int
    forward: bool
    served: bool
    from_vertex: int
    to_vertex: int


@dataclass
class ClassServed:
    road_class: str
    covered_m: float
    starts_s: float  # seconds after the plan's start when the plow first plows this class
    ends_s: float


@dataclass
class SnowRoute:
    crew: Crew
    plan: RoutePlan
    depot_vertex: int
    steps: list[Step]
    required_m: float  # metres × passes given to this plow
    covered_m: float
    deadhead_m: float
    classes: list[ClassServed]  # in the order the plow starts them
    stops: list[RouteStop]
    step_starts_s: list[float] = field(default_factory=list, repr=False)
    step_starts_m: list[float] = field(default_factory=list, repr=False)


@dataclass
class UnreachableEdge:
    edge_id: int
    road_class: str
    length_m: float
    reason: str


@dataclass
class SnowPlanResult:
    district: District
    road_classes: list[str]
    routes: list[SnowRoute]
    split: str  # "ranks" or "territories": how the edges were shared (see snow_partition)
    required_m_by_class: dict[str, float]
    unreachable: list[UnreachableEdge]
    skipped_crews: list[tuple[Crew, str]]
    seconds: dict[str, float] = field(default_factory=dict)


# --- Inputs.

def snow_district_get(*, code: str, area_slug: str | None = None) -> District:
    """The district by code, within the area if given (needed only when several areas have a
    district of that code)."""
    districts = District.objects.select_related("area").filter(code=code)
    if area_slug:
        if not ServiceArea.objects.filter(slug=area_slug).exists():
            raise SnowPlanRefused(_("Unknown area “%(area)s”.") % {"area": area_slug},
                                  field="area", code="unknown_area")
        districts = districts.filter(area__slug=area_slug)
    found = list(districts.order_by("pk")[:2])
    if not found:
        raise SnowPlanRefused(_("Unknown district “%(code)s”.") % {"code": code},
                              field="district", code="unknown_district")
    if len(found) > 1:
        raise SnowPlanRefused(_("Several areas have a district “%(code)s”: say which area.")
                              % {"code": code}, field="area", code="area_required")
    return found[0]


def _plows_choose(crew_ids: list[int] | None, now: datetime) -> list[Crew]:
    if crew_ids is None:
        ids = list(Crew.objects.filter(active=True, skills__contains=[PLOW_SKILL],
                                       shifts__starts_at__lte=now, shifts__ends_at__gt=now)
                   .values_list("pk", flat=True).distinct())
        if not ids:
            raise SnowPlanRefused(_("No plows: no active crew with the skill “plow” is on "
                                    "shift now. Choose crews with crew_ids."),
                                  field="crew_ids", code="no_plows")
    else:
        ids = sorted(set(crew_ids))
    crews = list(Crew.objects.select_for_update().filter(pk__in=ids, active=True,
                                                         skills__contains=[PLOW_SKILL])
                 .order_by("pk"))
    missing = sorted(set(ids) - {c.pk for c in crews})
    if missing:
        raise SnowPlanRefused(_("Not active plows (crews with the skill “plow”): %(ids)s.")
                              % {"ids": ", ".join(map(str, missing))},
                              field="crew_ids", code="no_plows")
    if not crews:
        raise SnowPlanRefused(_("No plows: choose at least one active crew with the skill "
                                "“plow”."), field="crew_ids", code="no_plows")
    return crews


def snow_required_edges(*, district: District, road_classes: list[str],
                        both_ways_classes=BOTH_WAYS_CLASSES) -> list[RequiredEdge]:
    """The edges of the classes (and their links) in the district, with their passes."""
    classes = sorted({c for name in road_classes
                      for c in (name, f"{name.removesuffix('_link')}_link")})
    with connection.cursor() as cursor:
        cursor.execute(_REQUIRED_SQL, [district.area.projection_srid, DISTRICT_BUFFER_M,
                                       district.pk, classes])
        rows = cursor.fetchall()
    edges = []
    for edge_id, source, target, cost, reverse, length, road_class, lon, lat in rows:
        drivable = tuple(d for d, c in ((True, cost), (False, reverse)) if c >= 0)
        if len(drivable) == 1:
            passes = (drivable,)
        elif road_class.removesuffix("_link") in both_ways_classes:
            passes = ((True,), (False,))
        else:
            passes = ((True, False),)
        edges.append(RequiredEdge(edge_id=edge_id, source=source, target=target,
                                  length_m=length, road_class=road_class,
                                  rank=road_class_rank(road_class), passes=passes,
                                  lon=lon, lat=lat))
    return edges


# --- Splitting across plows.

def _assign_balanced(xy: np.ndarray, weight: np.ndarray, centres: np.ndarray,
                     capacity: float, allowed: np.ndarray) -> np.ndarray:
    """Each item to a cluster: (item, cluster) pairs nearest first, while the cluster has
    room; what is left over goes to the least loaded allowed cluster, heaviest first."""
    n, k = allowed.shape
    distance = np.hypot(xy[:, None, 0] - centres[None, :, 0], xy[:, None, 1] - centres[None, :, 1])
    distance = np.where(allowed, distance, np.inf)
    labels = np.full(n, -1)
    load = np.zeros(k)
    left = n
    for flat in np.argsort(distance, axis=None, kind="stable").tolist():
        i, j = divmod(flat, k)
        if labels[i] >= 0 or not np.isfinite(distance[i, j]):
            continue
        if load[j] + weight[i] <= capacity:
            labels[i] = j
            load[j] += weight[i]
            left -= 1
            if not left:
                break
    for i in sorted(np.flatnonzero(labels < 0).tolist(), key=lambda i: (-weight[i], i)):
        j = int(np.argmin(np.where(allowed[i], load, np.inf)))
        labels[i] = j
        load[j] += weight[i]
    return labels


def _kmeans_balanced(xy: np.ndarray, weight: np.ndarray, centres: np.ndarray,
                     allowed: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    k = len(centres)
    capacity = weight.sum() / k * (1 + BALANCE_SLACK)
    labels = np.full(len(xy), -1)
    for _round in range(iterations):
        new = _assign_balanced(xy, weight, centres, capacity, allowed)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            mine = labels == j
            if weight[mine].sum() > 0:
                centres[j] = np.average(xy[mine], axis=0, weights=weight[mine])
    return labels, centres


def _axis_seeds(xy: np.ndarray, weight: np.ndarray, k: int) -> np.ndarray:
    """k centres of equal-weight chunks along the weighted principal axis."""
    mean = np.average(xy, axis=0, weights=weight)
    centred = xy - mean
    covariance = (centred * weight[:, None]).T @ centred
    _values, vectors = np.linalg.eigh(covariance)
    along = centred @ vectors[:, -1]
    order = np.argsort(along, kind="stable")
    cumulative = np.cumsum(weight[order])
    chunk = np.minimum((cumulative - weight[order] / 2) / cumulative[-1] * k, k - 1).astype(int)
    centres = np.array([mean] * k, dtype=float)
    for j in range(k):
        members = order[chunk == j]
        if len(members):
            centres[j] = np.average(xy[members], axis=0, weights=weight[members])
    return centres


def snow_partition(edges: list[RequiredEdge], depots: list[tuple[float, float]],
                   allowed: np.ndarray) -> dict[str, np.ndarray]:
    """Ways to split the edges: the plow (index into `depots`) of each edge, by name;
    `allowed[i, p]` says whether plow p can reach edge i. "ranks" balances the required
    length of every rank, "territories" only the total (see the module docstring)."""
    from scipy.optimize import linear_sum_assignment

    k = len(depots)
    if not edges or k == 1:
        return {"territories": np.zeros(len(edges), dtype=int)}
    lat0 = float(np.mean([e.lat for e in edges]))
    scale = np.array([METRES_PER_DEGREE * math.cos(math.radians(lat0)), METRES_PER_DEGREE])
    xy = np.array([(e.lon, e.lat) for e in edges]) * scale
    depot_xy = np.array(depots, dtype=float).reshape(-1, 2) * scale
    weight = np.array([e.required_m for e in edges]) + 1e-6
    everyone = np.ones((len(edges), k), bool)
    _labels, centres = _kmeans_balanced(xy, weight, _axis_seeds(xy, weight, k), everyone,
                                        KMEANS_ITERATIONS)
    # Territory j → plow p, nearest depots overall.
    cost = np.hypot(centres[:, None, 0] - depot_xy[None, :, 0],
                    centres[:, None, 1] - depot_xy[None, :, 1])
    territory, plow = linear_sum_assignment(cost)
    centres = centres[territory[np.argsort(plow)]]
    territories, _centres = _kmeans_balanced(xy, weight, centres.copy(), allowed,
                                             RANK_KMEANS_ITERATIONS)
    by_rank = np.zeros(len(edges), dtype=int)
    ranks = np.array([e.rank for e in edges])
    for rank in sorted(set(ranks.tolist())):
        members = np.flatnonzero(ranks == rank)
        by_rank[members], _centres = _kmeans_balanced(
            xy[members], weight[members], centres.copy(), allowed[members],
            RANK_KMEANS_ITERATIONS)
    return {"ranks": by_rank, "territories": territories}


def _split_score(graph: RoadGraph, drives: list[list], rank_of: dict[int, int]
                 ) -> tuple[float, float]:
    """(Σ over ranks of when the rank is plowed everywhere, the last plow's return), in
    estimated seconds: lower is better."""
    done: dict[int, float] = defaultdict(float)
    makespan = 0.0
    for drive in drives:
        ends = np.cumsum(_drive_step_seconds(graph, drive))
        for (edge, _forward, _tail, _head, plowed), end in zip(drive, ends.tolist(),
                                                               strict=True):
            if plowed:
                done[rank_of[edge]] = max(done[rank_of[edge]], end)
        makespan = max(makespan, float(ends[-1]) if len(ends) else 0.0)
    return sum(done.values()), makespan


# --- One plow's route.

@dataclass(frozen=True)
class _Pass:
    """One pass a plow owes: the ways it can be driven, as (edge id, forward, tail, head),
    tail and head being graph positions."""

    options: tuple[tuple[int, bool, int, int], ...]


class _Paths:
    """Fastest paths over the graph's packed costs (fastest, then shortest)."""

    def __init__(self, graph: RoadGraph):
        self.graph = graph
        self.size = len(graph.vertex_ids)
        self._reverse = None

    @property
    def reverse(self):
        if self._reverse is None:
            self._reverse = self.graph.csr.T.tocsr()
        return self._reverse

    def nearest(self, here: int, targets: np.ndarray, live: np.ndarray
                ) -> tuple[int, np.ndarray] | None:
        """The position in `targets` (of the live ones) nearest `here`, and the vertex
        chain to it; None when none is reachable. The Dijkstra limit grows until one is
        found, so a search usually settles only the neighbourhood."""
        from scipy.sparse.csgraph import dijkstra

        for limit_s in SEARCH_LIMITS_S:
            distance, predecessors = dijkstra(
                self.graph.csr, directed=True, indices=here, return_predecessors=True,
                limit=limit_s * PACK_DURATION_UNITS * PACK_SHIFT)
            found = np.where(live, distance[targets], np.inf)
            best = int(np.argmin(found))
            if np.isfinite(found[best]):
                return best, self.chain(predecessors, here, int(targets[best]))
        return None

    def path(self, here: int, there: int) -> np.ndarray:
        found = self.nearest(here, np.array([there]), np.array([True]))
        if found is None:
            raise ValueError(f"no path from graph vertex {here} to {there}")
        return found[1]

    @staticmethod
    def chain(predecessors: np.ndarray, here: int, there: int) -> np.ndarray:
        """Vertices from `here` to `there` along a shortest-path tree rooted at `here`."""
        chain = [there]
        while chain[-1] != here:
            chain.append(int(predecessors[chain[-1]]))
        return np.array(chain[::-1], dtype=np.int64)

    def arcs(self, chain) -> list[tuple[int, bool, int, int]]:
        """(edge id, forward, tail, head) of each arc along a vertex chain."""
        chain = np.asarray(chain, dtype=np.int64)
        if len(chain) < 2:
            return []
        found = np.searchsorted(self.graph.arc_key, chain[:-1] * self.size + chain[1:])
        return list(zip(self.graph.arc_edge[found].tolist(),
                        self.graph.arc_forward[found].tolist(),
                        chain[:-1].tolist(), chain[1:].tolist(), strict=True))

    def seconds_to(self, targets: np.ndarray) -> np.ndarray:
        """Seconds from every vertex to the nearest of `targets` (inf where none)."""
        from scipy.sparse.csgraph import dijkstra

        return _seconds(dijkstra(self.reverse, directed=True, indices=targets, min_only=True))

    def seconds_from(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Seconds of the fastest paths, sources × targets (inf where there is none)."""
        from scipy.sparse.csgraph import dijkstra

        result = np.full((len(sources), len(targets)), np.inf)
        step = max(1, DIJKSTRA_CELLS_PER_CALL // max(1, self.size))
        for first in range(0, len(sources), step):
            packed = dijkstra(self.graph.csr, directed=True, indices=sources[first:first + step])
            result[first:first + step] = _seconds(packed[:, targets])
        return result


def _seconds(packed: np.ndarray) -> np.ndarray:
    return np.floor(packed / PACK_SHIFT) / PACK_DURATION_UNITS


def _passes(graph: RoadGraph, edges: list[RequiredEdge], there: np.ndarray,
            back: np.ndarray) -> dict[int, list[_Pass]]:
    """The passes of `edges` by rank, each with the directions this plow can drive from its
    depot and get home from (`_edge_allowed` made sure every pass has one)."""
    by_rank: dict[int, list[_Pass]] = defaultdict(list)
    sources = graph.index_of([e.source for e in edges]).tolist()
    targets = graph.index_of([e.target for e in edges]).tolist()
    for edge, source, target in zip(edges, sources, targets, strict=True):
        for directions in edge.passes:
            options = []
            for forward in directions:
                tail, head = (source, target) if forward else (target, source)
                if there[tail] and back[head]:
                    options.append((edge.edge_id, forward, tail, head))
            by_rank[edge.rank].append(_Pass(tuple(options)))
    return by_rank


def _route_build(graph: RoadGraph, depot: int, edges: list[RequiredEdge], there: np.ndarray,
                 back: np.ndarray, method: str = "best") -> list[tuple[int, bool, int, int, bool]]:
    """The plow's drive, rank by rank from the depot (a graph position) back to it, as
    (edge id, forward, tail, head, plowed?) with tail and head graph positions; "best" is
    the faster of "euler" and "greedy".

    Every vertex the plow stands on can reach every pass's tail (through the depot at
    worst), since passes are reachable from the depot and get home."""
    paths = _Paths(graph)
    by_rank = _passes(graph, edges, there, back)
    if method == "best":
        drives = [_route_drive(paths, depot, by_rank, "greedy")]
        try:
            drives.append(_route_drive(paths, depot, by_rank, "euler"))
        except ValueError:  # a bug, not the data: the greedy route is still sound
            logger.exception("snow route: the euler construction failed; greedy kept")
        return min(drives, key=lambda drive: float(_drive_step_seconds(graph, drive).sum()))
    return _route_drive(paths, depot, by_rank, method)


def _drive_step_seconds(graph: RoadGraph, drive: list) -> np.ndarray:
    """About how long each step of a drive takes (a parallel edge counts as the graph's
    cheapest; the stored plan is measured on the edges themselves)."""
    if not drive:
        return np.zeros(0)
    tails, heads = (np.array([d[i] for d in drive], dtype=np.int64) for i in (2, 3))
    plowed = np.array([d[4] for d in drive])
    found = np.searchsorted(graph.arc_key, tails * len(graph.vertex_ids) + heads)
    packed = np.where(tails != heads, graph.csr.data[np.minimum(found, len(graph.csr.data) - 1)],
                      0.0)
    seconds = _seconds(packed)
    metres = (packed - np.floor(packed / PACK_SHIFT) * PACK_SHIFT) / PACK_LENGTH_UNITS
    return np.where(plowed, np.maximum(seconds, metres / (PLOW_SPEED_KMH / 3.6)), seconds)


def _route_drive(paths: _Paths, depot: int, by_rank: dict[int, list[_Pass]], method: str
                 ) -> list[tuple[int, bool, int, int, bool]]:
    drive: list[tuple[int, bool, int, int, bool]] = []
    here = depot
    ranks = sorted(by_rank)
    for position, rank in enumerate(ranks):
        if method == "euler":
            if rank == ranks[-1]:
                phase, here = _phase_euler(paths, here, by_rank[rank], end=depot)
            else:  # end where the next rank's passes are near
                following = by_rank[ranks[position + 1]]
                phase, here = _phase_euler(paths, here, by_rank[rank], end=None,
                                           toward=paths.seconds_to(np.array(sorted(
                                               {o[2] for one in following for o in one.options}))))
        else:
            phase, here = _phase_greedy(paths, here, by_rank[rank])
        drive += phase
    if here != depot:
        drive += [(*arc, False) for arc in paths.arcs(paths.path(here, depot))]
    return drive


def _phase_greedy(paths: _Paths, here: int, passes: list[_Pass]
                  ) -> tuple[list[tuple[int, bool, int, int, bool]], int]:
    """Nearest pass next: deadhead to the nearest tail of an open pass and plow it, passes
    on the way plowed too; a pass leaving the vertex the plow stands on is taken without a
    search, preferring one that leads on to more work."""
    options = [(p, *option) for p, one in enumerate(passes) for option in one.options]
    option_pass = np.array([o[0] for o in options])
    tails = np.array([o[3] for o in options])
    open_pass = np.ones(len(passes), bool)
    by_arc = {(edge, forward): p for p, edge, forward, _t, _h in options}
    by_tail: dict[int, list[int]] = defaultdict(list)
    for o, (_p, _e, _f, tail, _h) in enumerate(options):
        by_tail[tail].append(o)
    drive = []

    def plow(edge: int, forward: bool) -> bool:
        p = by_arc.get((edge, forward))
        if p is None or not open_pass[p]:
            return False
        open_pass[p] = False
        return True

    def leads_on(o: int) -> bool:
        p, _edge, _forward, _tail, head = options[o]
        return any(open_pass[options[d][0]] and options[d][0] != p for d in by_tail.get(head, ()))

    while open_pass.any():
        here_options = [o for o in by_tail.get(here, ()) if open_pass[options[o][0]]]
        if here_options:
            o = min(here_options, key=lambda o: (not leads_on(o), options[o][1], o))
        else:
            found = paths.nearest(here, tails, open_pass[option_pass])
            if found is None:  # cannot happen for allowed passes; never loop forever
                logger.warning("snow route: %s passes unreachable from graph vertex %s",
                               int(open_pass.sum()), here)
                break
            o, chain = found
            for edge, forward, tail, head in paths.arcs(chain):
                drive.append((edge, forward, tail, head, plow(edge, forward)))
            here = int(tails[o])
        _p, edge, forward, tail, head = options[o]
        if plow(edge, forward):
            drive.append((edge, forward, tail, head, True))
            here = head
    return drive, here


def _orient(paths: _Paths, passes: list[_Pass], free: list[int], joins: list) -> dict[int, int]:
    """Which option each two-way pass takes: the rounded LP relaxation of "balance every
    vertex's in and out degree with the fewest deadhead seconds", where reversing a pass
    moves two units. The LP runs over the roads within `ORIENT_REACH_S` of the passes (the
    whole graph if that cannot balance); option 0 for all if it fails."""
    from scipy.sparse.csgraph import dijkstra

    firsts = [one.options[0] for one in passes]
    balance = np.zeros(paths.size)  # out − in of the passes (options 0) and the joining paths
    for _edge, _forward, tail, head, *_plowed in firsts + joins:
        balance[tail] += 1
        balance[head] -= 1
    seeds = np.unique(np.concatenate([np.flatnonzero(balance), [o[2] for o in firsts],
                                      [o[3] for o in firsts]]).astype(np.int64))
    limit = ORIENT_REACH_S * PACK_DURATION_UNITS * PACK_SHIFT
    near = (np.isfinite(dijkstra(paths.graph.csr, indices=seeds, min_only=True, limit=limit))
            | np.isfinite(dijkstra(paths.reverse, indices=seeds, min_only=True, limit=limit)))
    for keep in (near, np.ones(paths.size, bool)):
        solved = _orient_lp(paths, passes, free, balance, keep)
        if solved is not None:
            return solved
    logger.warning("snow route: the orientation LP failed; passes keep option 0")
    return {}


def _orient_lp(paths: _Paths, passes: list[_Pass], free: list[int], balance: np.ndarray,
               keep: np.ndarray) -> dict[int, int] | None:
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    csr = paths.graph.csr
    arc_tail = np.repeat(np.arange(paths.size), np.diff(csr.indptr))
    arc_head = csr.indices
    inside = keep[arc_tail] & keep[arc_head]
    arc_tail, arc_head, weight = arc_tail[inside], arc_head[inside], csr.data[inside]
    row_of = np.cumsum(keep) - 1  # rows only for the kept vertices
    arcs = len(arc_head)
    free_tail = np.array([passes[p].options[0][2] for p in free], dtype=np.int64)
    free_head = np.array([passes[p].options[0][3] for p in free], dtype=np.int64)
    rows = row_of[np.concatenate([arc_tail, arc_head, free_tail, free_head])]
    columns = np.concatenate([np.arange(arcs), np.arange(arcs), arcs + np.arange(len(free)),
                              arcs + np.arange(len(free))])
    values = np.concatenate([np.ones(arcs), -np.ones(arcs), np.full(len(free), -2.0),
                             np.full(len(free), 2.0)])
    equations = coo_matrix((values, (rows, columns)),
                           shape=(int(keep.sum()), arcs + len(free))).tocsr()
    cost = np.concatenate([_seconds(weight) + 1e-3, np.zeros(len(free))])
    bounds = np.array([(0, None)] * arcs + [(0, 1)] * len(free), dtype=float)
    solved = linprog(cost, A_eq=equations, b_eq=-balance[keep], bounds=bounds, method="highs")
    if solved.status != 0:
        return None
    return {p: 1 for p, y in zip(free, solved.x[arcs:], strict=True) if y > 0.5}


def _phase_euler(paths: _Paths, start: int, passes: list[_Pass], end: int | None,
                 toward: np.ndarray | None = None
                 ) -> tuple[list[tuple[int, bool, int, int, bool]], int]:
    """An Euler trail from `start` through every pass, ending at `end` (or, when None, where
    it is cheapest counting `toward`: seconds from each vertex to where the plow goes next):
    orient the two-way passes (`_orient`), add the fastest deadhead paths that
    balance every vertex (an assignment between the vertices with more passes in than out
    and those with more out than in), join what is still apart with a pair of paths per
    edge of a minimum spanning tree of the pieces, and walk it (Hierholzer)."""
    from scipy.optimize import linear_sum_assignment

    free = [p for p, one in enumerate(passes) if len(one.options) == 2]
    # Arcs: (edge id, forward, tail, head, plowed?).
    joins = _connect(paths, [(*one.options[0], True) for one in passes],
                     [start] if end is None else [start, end], round_trips=False)
    flipped = _orient(paths, passes, free, joins) if free else {}
    arcs = [(*one.options[flipped.get(p, 0)], True) for p, one in enumerate(passes)] + joins
    surplus = np.zeros(paths.size, dtype=np.int64)  # in − out: deadhead must leave
    for _edge, _forward, tail, head, _plowed in arcs:
        surplus[head] += 1
        surplus[tail] -= 1
    surplus[start] += 1
    if end is not None:
        surplus[end] -= 1
    givers = np.repeat(np.arange(paths.size), np.maximum(surplus, 0))
    takers = np.repeat(np.arange(paths.size), np.maximum(-surplus, 0))
    finish = end
    if len(givers):
        sources = np.unique(givers)
        targets = np.unique(takers)
        seconds = paths.seconds_from(sources, targets)
        cost = seconds[np.searchsorted(sources, givers)][:, np.searchsorted(targets, takers)]
        if end is None:  # one giver is where the trail ends
            ending = np.zeros(len(givers)) if toward is None else toward[givers]
            cost = np.hstack([cost, ending[:, None]])
        cost = np.where(np.isfinite(cost), cost, 1e12)
        rows, columns = linear_sum_assignment(cost)
        for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
            if column == len(takers):
                finish = int(givers[row])
            elif givers[row] != takers[column]:
                chain = paths.path(int(givers[row]), int(takers[column]))
                arcs += [(*arc, False) for arc in paths.arcs(chain)]
    if finish is None:
        finish = start
    # Balancing only adds arcs, so the pieces stay joined; the round trips are a safeguard.
    arcs += _connect(paths, [*arcs, (None, None, finish, start, False)], [], round_trips=True)
    return _euler_walk(arcs, start, finish), finish


def _connect(paths: _Paths, arcs: list, points: list[int], *, round_trips: bool) -> list:
    """Deadhead paths joining the weakly connected pieces of the arcs (and `points`), along
    a minimum spanning tree of the pieces weighted by the fastest way between them (the
    faster direction). With `round_trips`, each also gets the fastest path back, which
    keeps balanced vertices balanced."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components, dijkstra, minimum_spanning_tree

    tails = np.array([a[2] for a in arcs] + points, dtype=np.int64)
    heads = np.array([a[3] for a in arcs] + points, dtype=np.int64)
    vertices, index = np.unique(np.concatenate([tails, heads]), return_inverse=True)
    links = coo_matrix((np.ones(len(tails)), (index[:len(tails)], index[len(tails):])),
                       shape=(len(vertices), len(vertices)))
    count, piece = connected_components(links, directed=False)
    if count == 1:
        return []
    nearest = np.full((count, count), np.inf)
    chains: dict[tuple[int, int], list[int]] = {}
    for c in range(count):
        distance, predecessors, _origin = dijkstra(paths.graph.csr, directed=True,
                                                   indices=vertices[piece == c],
                                                   min_only=True, return_predecessors=True)
        for d in range(count):
            others = vertices[piece == d]
            there = int(others[np.argmin(distance[others])])
            if d == c or not np.isfinite(distance[there]):
                continue
            nearest[c, d] = distance[there]
            chain = [there]
            while predecessors[chain[-1]] >= 0:
                chain.append(int(predecessors[chain[-1]]))
            chains[(c, d)] = chain[::-1]
    # Symmetric weights for the tree (+ ε: zero means no link).
    weight = _seconds(np.minimum(nearest, nearest.T))
    tree = minimum_spanning_tree(np.where(np.isfinite(weight), weight + 1e-3, 0))
    added = []
    for c, d in zip(*tree.nonzero(), strict=True):
        chain = chains[(c, d)] if nearest[c, d] <= nearest[d, c] else chains[(d, c)]
        added += [(*arc, False) for arc in paths.arcs(chain)]
        if round_trips:
            added += [(*arc, False) for arc in paths.arcs(paths.path(chain[-1], chain[0]))]
    return added


def _euler_walk(arcs: list, start: int, finish: int
                ) -> list[tuple[int, bool, int, int, bool]]:
    """Hierholzer's walk over every arc, from `start` to `finish`. A deadhead run over a
    pass not yet plowed plows it, and the later plowing run becomes the deadhead one (same
    cost, earlier plowing)."""
    closing = len(arcs)
    everything = [*arcs, (None, None, finish, start, False)]
    leaving: dict[int, list[int]] = defaultdict(list)
    for a in range(len(everything) - 1, -1, -1):  # popped in order
        leaving[everything[a][2]].append(a)
    stack, circuit = [(start, None)], []
    while stack:
        vertex, arc = stack[-1]
        if leaving[vertex]:
            a = leaving[vertex].pop()
            stack.append((everything[a][3], a))
        else:
            stack.pop()
            if arc is not None:
                circuit.append(arc)
    circuit.reverse()
    if len(circuit) != len(everything):
        raise ValueError("snow route: the arcs are not connected")
    at = circuit.index(closing)
    order = circuit[at + 1:] + circuit[:at]
    plowed_later = defaultdict(int)
    for a in order:
        if everything[a][4]:
            plowed_later[everything[a][:2]] += 1
    walk = []
    for a in order:
        edge, forward, tail, head, plowed = everything[a]
        if plowed_later[(edge, forward)] > 0 and not plowed:
            plowed_later[(edge, forward)] -= 1
            walk.append((edge, forward, tail, head, True))
            continue
        if plowed:
            if plowed_later[(edge, forward)] <= 0:  # plowed already on an earlier run
                walk.append((edge, forward, tail, head, False))
                continue
            plowed_later[(edge, forward)] -= 1
        walk.append((edge, forward, tail, head, plowed))
    return walk


def _reachable(graph: RoadGraph, depot: int) -> tuple[np.ndarray, np.ndarray]:
    """Which vertices the depot reaches, and which reach the depot."""
    from scipy.sparse.csgraph import dijkstra

    there = np.isfinite(dijkstra(graph.csr, directed=True, indices=depot))
    back = np.isfinite(dijkstra(graph.csr.T.tocsr(), directed=True, indices=depot))
    return there, back


def _edge_allowed(edge: RequiredEdge, source: int, target: int, there: np.ndarray,
                  back: np.ndarray) -> bool:
    """Whether a plow from this depot can do every pass of the edge (its ends at graph
    positions `source`, `target`) and get home."""
    if source < 0 or target < 0:
        return False
    tail_head = {True: (source, target), False: (target, source)}
    return all(any(there[tail_head[d][0]] and back[tail_head[d][1]] for d in directions)
               for directions in edge.passes)


# --- Measuring and drawing a route.

@dataclass
class _Measured:
    starts_s: list[float]  # per step: seconds from the plan start when the step begins
    starts_m: list[float]
    duration_s: float
    distance_m: float
    covered_m: float
    geometry: GEOSGeometry | None
    classes: list[ClassServed]


def _edge_rows(edge_ids: set[int]) -> dict[int, tuple]:
    if not edge_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_STEP_EDGES_SQL, ["{" + ",".join(map(str, sorted(edge_ids))) + "}"])
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _route_measure(steps: list[Step], rows: dict[int, tuple]) -> _Measured:
    plow_mps = PLOW_SPEED_KMH / 3.6
    clock = metres = covered = 0.0
    starts_s, starts_m, pieces = [], [], []
    classes: dict[str, ClassServed] = {}
    for step in steps:
        cost, reverse, length, road_class, wkb = rows[step.edge_id]
        drive_s = cost if step.forward else reverse
        seconds = max(drive_s, length / plow_mps) if step.served else drive_s
        starts_s.append(clock)
        starts_m.append(metres)
        if step.served:
            served = classes.setdefault(road_class, ClassServed(road_class, 0.0, clock, clock))
            served.covered_m += length
            served.ends_s = clock + seconds
            covered += length
        clock += seconds
        metres += length
        coords = shapely.get_coordinates(shapely.from_wkb(bytes(wkb)))
        pieces.append(coords if step.forward else coords[::-1])
    geometry = None
    if pieces:
        coords = np.concatenate([pieces[0]] + [piece[1:] for piece in pieces[1:]])
        geometry = GEOSGeometry(memoryview(shapely.to_wkb(shapely.linestrings(coords))),
                                srid=4326)
    return _Measured(starts_s=starts_s, starts_m=starts_m, duration_s=clock, distance_m=metres,
                     covered_m=covered, geometry=geometry,
                     classes=sorted(classes.values(), key=lambda c: (c.starts_s, c.road_class)))


# --- The service.

@transaction.atomic
def snow_plan_create(*, district: District, road_classes: list[str] | None = None,
                     crew_ids: list[int] | None = None, by=None,
                     both_ways_classes=BOTH_WAYS_CLASSES, method: str = "best") -> SnowPlanResult:
    """Plow routes covering the district's roads of `road_classes`, one published snow plan
    per plow (default: active crews with the skill "plow" on shift now).

    Locks the chosen crews. Supersedes only their previous published snow plans; open snow
    incidents on the plowed roads become stops and move to `assigned` (new ones through
    `verified`); pending ones of the superseded plans that no route passes go back to
    `verified`.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    now = timezone.now()
    road_classes = list(dict.fromkeys(road_classes or DEFAULT_ROAD_CLASSES))
    if not network_loaded():
        raise SnowPlanRefused(_("No road network is loaded: import one with "
                                "`manage.py roads_import`."), code="no_road_network")
    crews = _plows_choose(crew_ids, now)
    edges = snow_required_edges(district=district, road_classes=road_classes,
                                both_ways_classes=both_ways_classes)
    if not edges:
        raise SnowPlanRefused(
            _("No roads of the classes %(classes)s in the district “%(district)s”.")
            % {"classes": ", ".join(road_classes), "district": district.code},
            field="road_classes", code="no_roads")
    required_by_class: dict[str, float] = defaultdict(float)
    for edge in edges:
        required_by_class[edge.road_class] += edge.required_m

    # Depots and the graph around the district and them.
    snaps = snap([Point(c.depot.x, c.depot.y, srid=4326) for c in crews])
    skipped = [(c, _("its depot is more than 1 km from any road"))
               for c, s in zip(crews, snaps, strict=True) if not s.snapped]
    plows = [(c, s) for c, s in zip(crews, snaps, strict=True) if s.snapped]
    if not plows:
        raise SnowPlanRefused(_("No plows: no chosen plow's depot is near a road."),
                              field="crew_ids", code="no_plows")
    x0, y0, x1, y1 = district.boundary.extent
    box = routing_box([Point(x0, y0, srid=4326), Point(x1, y1, srid=4326)]
                      + [s.vertex for _c, s in plows])
    graph = road_graph(box)
    depots = graph.index_of([s.vertex_id for _c, s in plows])
    sources = graph.index_of([e.source for e in edges]).tolist()
    targets = graph.index_of([e.target for e in edges]).tolist()
    allowed = np.zeros((len(edges), len(plows)), bool)
    reach = []
    for p, depot in enumerate(depots.tolist()):
        there, back = _reachable(graph, depot) if depot >= 0 else (None, None)
        reach.append((there, back))
        if depot >= 0:
            allowed[:, p] = [_edge_allowed(e, s, t, there, back)
                             for e, s, t in zip(edges, sources, targets, strict=True)]
    unreachable = [UnreachableEdge(e.edge_id, e.road_class, e.length_m,
                                   _("no plow can drive it from its depot and back"))
                   for e, ok in zip(edges, allowed.any(axis=1), strict=True) if not ok]
    keep = allowed.any(axis=1)
    reachable = [e for e, ok in zip(edges, keep, strict=True) if ok]
    timings["load"] = time.perf_counter() - started

    mark = time.perf_counter()
    splits = snow_partition(reachable, [(s.vertex.x, s.vertex.y) for _c, s in plows],
                            allowed[keep])
    timings["partition"] = time.perf_counter() - mark

    mark = time.perf_counter()
    rank_of = {e.edge_id: e.rank for e in reachable}
    best = None
    for split, labels in splits.items():
        shares = [[e for e, label in zip(reachable, labels.tolist(), strict=True) if label == p]
                  for p in range(len(plows))]
        drives = [_route_build(graph, int(depots[p]), mine, *reach[p], method=method)
                  if mine else [] for p, mine in enumerate(shares)]
        score = _split_score(graph, drives, rank_of)
        if best is None or score < best[0]:
            best = (score, split, shares, drives)
    _score, split, shares, drives = best
    built = []
    for (crew, snapped), mine, drive in zip(plows, shares, drives, strict=True):
        vertex = graph.vertex_ids
        steps = [Step(edge_id=edge, forward=forward, served=plowed,
                      from_vertex=int(vertex[tail]), to_vertex=int(vertex[head]))
                 for edge, forward, tail, head, plowed in drive]
        built.append((crew, snapped, mine, steps))
    timings["routes"] = time.perf_counter() - mark

    mark = time.perf_counter()
    previous = list(RoutePlan.objects.filter(crew__in=[c for c, _s in plows],
                                             kind=RoutePlan.Kind.SNOW,
                                             state=RoutePlan.State.PUBLISHED)
                    .values_list("pk", flat=True))
    rows = _edge_rows({s.edge_id for _c, _s, _m, steps in built for s in steps})
    routes = [_plan_store(crew=crew, depot_vertex=snapped.vertex_id, edges=mine, steps=steps,
                          rows=rows, now=now, by=by, district=district,
                          road_classes=road_classes)
              for crew, snapped, mine, steps in built]
    _incidents_attach(routes=routes, previous_plan_ids=previous, by=by)
    timings["store"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    logger.info("snow plan %s: %s plows, %s edges, %s unreachable, %.2f s", district.code,
                len(routes), len(edges), len(unreachable), timings["total"])
    return SnowPlanResult(district=district, road_classes=road_classes, routes=routes,
                          split=split, required_m_by_class=dict(required_by_class),
                          unreachable=unreachable, skipped_crews=skipped, seconds=timings)


def _plan_store(*, crew: Crew, depot_vertex: int, edges: list[RequiredEdge], steps: list[Step],
                rows: dict, now: datetime, by, district: District,
                road_classes: list[str]) -> SnowRoute:
    shift = (Shift.objects.filter(crew=crew, ends_at__gt=now,
                                  starts_at__lt=now + timedelta(hours=24))
             .order_by("starts_at").first())
    starts_at = max(now, shift.starts_at) if shift else now
    RoutePlan.objects.filter(crew=crew, kind=RoutePlan.Kind.SNOW,
                             state=RoutePlan.State.PUBLISHED).update(
        state=RoutePlan.State.SUPERSEDED)
    version = (RoutePlan.objects.filter(crew=crew).aggregate(v=Max("version"))["v"] or 0) + 1
    measured = _route_measure(steps, rows)
    plan = RoutePlan.objects.create(
        crew=crew, shift=shift, version=version, state=RoutePlan.State.PUBLISHED,
        kind=RoutePlan.Kind.SNOW, engine=ENGINE, matrix_source="road_network",
        distance_m=measured.distance_m, duration_s=measured.duration_s, starts_at=starts_at,
        geometry=measured.geometry, covered_edges=[s.edge_id for s in steps if s.served],
        covered_m=measured.covered_m, created_by=by,
        reason=(_("snow: %(district)s (%(classes)s)")
                % {"district": district.code, "classes": ", ".join(road_classes)})[:200])
    from incidents.events import event_publish_on_commit

    event_publish_on_commit(kind="plan.published", crew_id=crew.pk, plan_id=plan.pk,
                            version=version)
    return SnowRoute(crew=crew, plan=plan, depot_vertex=depot_vertex, steps=steps,
                     required_m=sum(e.required_m for e in edges), covered_m=measured.covered_m,
                     deadhead_m=measured.distance_m - measured.covered_m,
                     classes=measured.classes, stops=[],
                     step_starts_s=measured.starts_s, step_starts_m=measured.starts_m)


def _incidents_attach(*, routes: list[SnowRoute], previous_plan_ids: list[int], by) -> None:
    """Open snow incidents near a plowed edge → stops of the plan that plows it first."""
    first_pass: dict[int, tuple[SnowRoute, float, float]] = {}
    for route in routes:
        for step, at_s, at_m in zip(route.steps, route.step_starts_s, route.step_starts_m,
                                    strict=True):
            if step.served and step.edge_id not in first_pass:
                first_pass[step.edge_id] = (route, at_s, at_m)
    previous = list(RouteStop.objects.filter(plan__in=previous_plan_ids)
                    .select_related("incident", "incident__category", "plan"))
    # The stops a crew has started stay on its new plan, first; pending ones are re-planned.
    started = {s.incident_id: s for s in previous if s.state == RouteStop.State.STARTED}
    pending = {s.incident_id for s in previous if s.state == RouteStop.State.PENDING
               and s.incident.status == Status.ASSIGNED}
    matches: list[tuple[int, int]] = []
    if first_pass:
        with connection.cursor() as cursor:
            cursor.execute(_INCIDENT_MATCH_SQL, [
                "{" + ",".join(map(str, sorted(first_pass))) + "}", INCIDENT_MATCH_M,
                list(SNOW_INCIDENT_STATUSES), "{" + ",".join(map(str, sorted(pending))) + "}"])
            matches = [(i, e) for i, e in cursor.fetchall() if i not in started]
    incidents = Incident.objects.select_related("category").in_bulk(
        [i for i, _e in matches] + list(pending))
    specs: dict[int, list] = defaultdict(list)
    for stop in started.values():
        route = next((r for r in routes if r.crew.pk == stop.plan.crew_id), None)
        if route is not None:
            specs[route.plan.pk].append((stop.eta, stop.incident, stop.state, 0.0))
    for incident_id, edge_id in matches:
        route, at_s, at_m = first_pass[edge_id]
        specs[route.plan.pk].append((route.plan.starts_at + timedelta(seconds=at_s),
                                     incidents[incident_id], RouteStop.State.PENDING, at_m))
    for route in routes:
        rows_spec = sorted(specs.get(route.plan.pk, []), key=lambda s: (s[0], s[1].pk))
        stops, previous_eta, previous_m = [], route.plan.starts_at, 0.0
        for sequence, (eta, incident, state, at_m) in enumerate(rows_spec, start=1):
            stops.append(RouteStop(plan=route.plan, incident=incident, sequence=sequence,
                                   eta=eta, departs_at=eta, service_s=0,
                                   travel_s=max(0.0, (eta - previous_eta).total_seconds()),
                                   distance_m=max(0.0, at_m - previous_m), state=state))
            previous_eta, previous_m = eta, max(previous_m, at_m)
        route.stops = RouteStop.objects.bulk_create(stops)
    attached = {i for i, _e in matches}
    for incident_id in sorted(attached):
        incident = incidents[incident_id]
        if incident.status == Status.NEW:
            incident = incident_transition(
                incident=incident, to=Status.VERIFIED, by=by, public=False,
                note=_("Snow reported on a road in the snow plan"))
        if incident.status != Status.ASSIGNED:
            incident_transition(incident=incident, to=Status.ASSIGNED, by=by, public=True,
                                note=_("On a snow plow's route"))
    for incident_id in sorted(pending - attached):
        incident_transition(incident=incidents[incident_id], to=Status.VERIFIED, by=by,
                            public=False, note=_("Taken off the snow route when re-planning"))
