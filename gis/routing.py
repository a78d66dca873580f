"""Snapping, travel-time/distance matrices and route geometries over the imported roads.

Everything works without a road network too: durations are then great-circle distance ×
`DETOUR_FACTOR` at `FALLBACK_SPEED_KMH`, and results say `source="great_circle"`.

A point joins the network at its nearest snappable vertex (within `SNAP_MAX_DISTANCE_M`);
the stretch between them is driven at `ACCESS_SPEED_KMH`, in durations and distances alike.
Pairs the network cannot connect get the great-circle estimate × `UNREACHABLE_PENALTY`, so
an optimiser avoids chaining them without being stuck.

Shortest paths are the fastest ones; their distance is the length of that fastest path.
Both come out of one search by packing each edge's cost into one exact float:
`centiseconds × 2**28 + decimetres` (integers below 2**53 add exactly), which orders paths
by duration, then length. That bounds a path to 93 hours and 26,843 km.

Two engines compute them over the edges in the points' bbox plus a margin, with the same
results:
- "scipy": the edges are loaded once per network version and box into a CSR graph and
  `scipy.sparse.csgraph.dijkstra` runs a full search from every source (C, no paths
  built). Matrices use it when scipy is installed;
- "pgrouting": `pgr_dijkstraCostMatrix` and `pgr_dijkstra` with combinations, in the
  database. pgRouting 3.4 builds every pair's path even for a cost matrix (1,080 points
  over Andorra: 4-14 s against 0.5-1.2 s), but its one-to-one searches stop at the
  target, so paths between consecutive stops use it.
"""

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

import numpy as np
import shapely
from django.contrib.gis.geos import GEOSGeometry, LineString, Point
from django.db import connection

from gis.models import RoadEdge, RoadNetwork, RoadVertex

# The fallback and access model, in one place.
DETOUR_FACTOR = 1.3
FALLBACK_SPEED_KMH = 30.0
UNREACHABLE_PENALTY = 2.0
ACCESS_SPEED_KMH = 15.0
SNAP_MAX_DISTANCE_M = 1000.0
SNAP_CANDIDATES = 8
# Edges considered are those in the points' bbox grown by this much on each side: roads
# leave the bbox (a valley road around a ridge), but a city matrix need not load a country.
ROUTING_MARGIN_M = 3000.0
ROUTING_MARGIN_FRACTION = 0.25
EARTH_RADIUS_M = 6_371_008.8

# Packed costs: see the module docstring.
PACK_SHIFT = float(2**28)
PACK_DURATION_UNITS = 100.0  # per second
PACK_LENGTH_UNITS = 10.0  # per metre

# The scipy engine caches this many graphs per process, on boxes rounded out to this grid.
GRAPH_CACHE_SIZE = 4
GRAPH_BOX_GRID_DEG = 0.05
# Sources per dijkstra call: bounds the (sources × vertices) float array it returns.
DIJKSTRA_CELLS_PER_CALL = 20_000_000

Source = Literal["road_network", "great_circle"]
Engine = Literal["scipy", "pgrouting"]

_EDGES = RoadEdge._meta.db_table
_VERTICES = RoadVertex._meta.db_table


@dataclass(frozen=True)
class Snap:
    point: Point
    vertex_id: int | None = None
    vertex: Point | None = None
    distance_m: float | None = None

    @property
    def snapped(self) -> bool:
        return self.vertex_id is not None


@dataclass(frozen=True)
class Matrix:
    """`durations_s[i][j]`: seconds from point i to point j; `distances_m` likewise."""

    durations_s: list[list[float]]
    distances_m: list[list[float]]
    source: Source
    fallback_pairs: int = 0  # ordered pairs (i != j) estimated from the great circle


@dataclass(frozen=True)
class Leg:
    duration_s: float
    distance_m: float
    source: Source


@dataclass(frozen=True)
class Path:
    geometry: LineString
    duration_s: float
    distance_m: float
    source: Source
    legs: list[Leg] = field(default_factory=list)


# --- SQL. User values only ever travel as query parameters: the edge and combination
# queries pgRouting runs are built server-side with format(%L) from typed parameters.

_PACKED_COST = f"round(cost * {PACK_DURATION_UNITS}) * {PACK_SHIFT} + round(length_m * {PACK_LENGTH_UNITS})"
_PACKED_REVERSE_COST = (f"CASE WHEN reverse_cost < 0 THEN -1 ELSE round(reverse_cost * "
                        f"{PACK_DURATION_UNITS}) * {PACK_SHIFT} + round(length_m * {PACK_LENGTH_UNITS}) END")

# Four float parameters: min lon, min lat, max lon, max lat.
_PGR_EDGES_SQL = f"""
    format('SELECT id, source, target, {_PACKED_COST} AS cost,
                   {_PACKED_REVERSE_COST} AS reverse_cost
            FROM {_EDGES} WHERE geom && ST_MakeEnvelope(%%L, %%L, %%L, %%L, 4326)',
           %s::float8, %s::float8, %s::float8, %s::float8)
"""

_GRAPH_SQL = f"""
    SELECT id, source, target, {_PACKED_COST}, {_PACKED_REVERSE_COST}
    FROM {_EDGES} WHERE geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)
"""

_SNAP_SQL = f"""
    SELECT p.n, v.id, ST_X(v.geom), ST_Y(v.geom), v.distance_m
    FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS p(lon, lat, n)
    CROSS JOIN LATERAL (
        SELECT c.id, c.geom,
               ST_Distance(c.geom::geography,
                           ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography) AS distance_m
        FROM (
            SELECT id, geom FROM {_VERTICES} WHERE snappable
            ORDER BY geom <-> ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)
            LIMIT %s
        ) AS c
        ORDER BY distance_m, c.id
        LIMIT 1
    ) AS v
    WHERE v.distance_m <= %s
"""

_PGR_MATRIX_SQL = f"""
    SELECT start_vid, end_vid, agg_cost
    FROM pgr_dijkstraCostMatrix({_PGR_EDGES_SQL}, %s::bigint[], directed => true)
"""

# Legs as (leg number, step, edge id, along the edge's direction): summed and drawn.
_LEGS_SQL = f"""
    SELECT l.leg, sum(CASE WHEN l.forward THEN e.cost ELSE e.reverse_cost END), sum(e.length_m),
           ST_AsBinary(ST_MakeLine(CASE WHEN l.forward THEN e.geom ELSE ST_Reverse(e.geom) END
                                   ORDER BY l.step))
    FROM unnest(%s::int[], %s::int[], %s::bigint[], %s::bool[]) AS l(leg, step, edge, forward)
    JOIN {_EDGES} e ON e.id = l.edge
    GROUP BY l.leg
"""

_PGR_PATHS_SQL = f"""
    WITH pair AS (
        SELECT * FROM unnest(%s::bigint[], %s::bigint[]) WITH ORDINALITY AS p(source, target, leg)
    ), path AS (
        SELECT pair.leg, d.path_seq, d.edge, d.node
        FROM pgr_dijkstra(
            {_PGR_EDGES_SQL},
            format('SELECT unnest(%%L::bigint[]) AS source, unnest(%%L::bigint[]) AS target',
                   %s::bigint[], %s::bigint[]),
            directed => true) AS d
        JOIN pair ON pair.source = d.start_vid AND pair.target = d.end_vid
        WHERE d.edge <> -1
    )
    SELECT path.leg, sum(CASE WHEN path.node = e.source THEN e.cost ELSE e.reverse_cost END),
           sum(e.length_m),
           ST_AsBinary(ST_MakeLine(
               CASE WHEN path.node = e.source THEN e.geom ELSE ST_Reverse(e.geom) END
               ORDER BY path.path_seq))
    FROM path JOIN {_EDGES} e ON e.id = path.edge
    GROUP BY path.leg
"""


# --- Great circle and packing.

def great_circle_m(a: Point, b: Point) -> float:
    return float(_great_circle_matrix_m([a, b])[0, 1])


def _great_circle_matrix_m(points: list[Point]) -> np.ndarray:
    lon = np.radians([p.x for p in points])
    lat = np.radians([p.y for p in points])
    h = (np.sin((lat[None, :] - lat[:, None]) / 2) ** 2
         + np.cos(lat[:, None]) * np.cos(lat[None, :])
         * np.sin((lon[None, :] - lon[:, None]) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(1.0, h)))


def fallback_duration_s(great_circle_m: float) -> float:
    return great_circle_m * DETOUR_FACTOR / (FALLBACK_SPEED_KMH / 3.6)


def fallback_distance_m(great_circle_m: float) -> float:
    return great_circle_m * DETOUR_FACTOR


def _pg_array(values: np.ndarray) -> str:
    """An integer (or 0/1 boolean) array literal passed as one text parameter: Django's
    client-side binding quotes a list element by element, seconds at 100,000 elements."""
    return "{" + ",".join(map(str, np.asarray(values, dtype=np.int64).tolist())) + "}"


def _unpack(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, metres) from packed path costs; NaN where a path is missing (inf/NaN)."""
    packed = np.where(np.isfinite(packed), packed, np.nan)
    duration_units = np.floor(packed / PACK_SHIFT)
    return (duration_units / PACK_DURATION_UNITS,
            (packed - duration_units * PACK_SHIFT) / PACK_LENGTH_UNITS)


# --- Network, snapping, boxes.

def network_version() -> int | None:
    """The pk of the latest import, or None when no network was ever loaded."""
    return RoadNetwork.objects.order_by("-pk").values_list("pk", flat=True).first()


def network_loaded() -> bool:
    return RoadEdge.objects.exists()


def snap(points: list[Point]) -> list[Snap]:
    """The nearest snappable vertex of each point, by geodesic distance, if within
    `SNAP_MAX_DISTANCE_M`. Candidates come from the GiST index (`<->`, in degrees) and are
    re-ranked in metres, which matters at high latitudes."""
    if not points:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_SNAP_SQL, [[p.x for p in points], [p.y for p in points],
                                   SNAP_CANDIDATES, SNAP_MAX_DISTANCE_M])
        found = {n: (vertex_id, x, y, distance) for n, vertex_id, x, y, distance in cursor}
    snaps = []
    for n, point in enumerate(points, start=1):
        if n in found:
            vertex_id, x, y, distance = found[n]
            snaps.append(Snap(point=point, vertex_id=vertex_id,
                              vertex=Point(x, y, srid=4326), distance_m=distance))
        else:
            snaps.append(Snap(point=point))
    return snaps


def routing_box(vertices: list[Point]) -> tuple[float, float, float, float]:
    """Bbox of the vertices grown by the routing margin: (min lon, min lat, max lon, max lat)."""
    lons, lats = [v.x for v in vertices], [v.y for v in vertices]
    min_lat, max_lat = min(lats), max(lats)
    metres_per_degree = math.pi * EARTH_RADIUS_M / 180
    cos_lat = max(math.cos(math.radians(max(abs(min_lat), abs(max_lat)))), 0.01)
    span_m = max((max(lons) - min(lons)) * metres_per_degree * cos_lat,
                 (max_lat - min_lat) * metres_per_degree)
    margin_m = max(ROUTING_MARGIN_M, ROUTING_MARGIN_FRACTION * span_m)
    dlat = margin_m / metres_per_degree
    dlon = margin_m / (metres_per_degree * cos_lat)
    return (max(min(lons) - dlon, -180.0), max(min_lat - dlat, -90.0),
            min(max(lons) + dlon, 180.0), min(max_lat + dlat, 90.0))


def routing_engine() -> Engine:
    try:
        import scipy.sparse.csgraph  # noqa: F401
    except ImportError:
        return "pgrouting"
    return "scipy"


# --- The scipy engine.

class RoadGraph:
    """The directed graph of the edges in a box, as CSR arrays over packed costs.

    Parallel edges keep the cheapest; `arc_edge`/`arc_forward` say which edge each arc is
    and whether it runs along the edge's geometry."""

    def __init__(self, rows: np.ndarray):
        from scipy.sparse import csr_matrix

        ids, sources, targets = (rows[:, i].astype(np.int64) for i in range(3))
        cost, reverse = rows[:, 3], rows[:, 4]
        self.vertex_ids = np.unique(np.concatenate([sources, targets]))
        u = np.searchsorted(self.vertex_ids, np.concatenate([sources, targets]))
        v = np.searchsorted(self.vertex_ids, np.concatenate([targets, sources]))
        weight = np.concatenate([cost, reverse])
        edge = np.concatenate([ids, ids])
        forward = np.concatenate([np.ones(len(ids), bool), np.zeros(len(ids), bool)])
        keep = (weight >= 0) & (u != v)
        u, v, weight, edge, forward = u[keep], v[keep], weight[keep], edge[keep], forward[keep]
        order = np.lexsort((weight, v, u))
        u, v, weight, edge, forward = u[order], v[order], weight[order], edge[order], forward[order]
        first = np.ones(len(u), bool)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        u, v, weight = u[first], v[first], weight[first]
        self.arc_edge, self.arc_forward = edge[first], forward[first]
        size = len(self.vertex_ids)
        self.arc_key = u * size + v  # sorted, as the CSR arcs are
        self.csr = csr_matrix((weight, v.astype(np.int32),
                               np.searchsorted(u, np.arange(size + 1)).astype(np.int32)),
                              shape=(size, size))

    def index_of(self, vertex_ids) -> np.ndarray:
        """Positions of the vertices in the graph; -1 for those outside it."""
        vertex_ids = np.asarray(vertex_ids, dtype=np.int64)
        if not len(self.vertex_ids):
            return np.full(len(vertex_ids), -1)
        index = np.searchsorted(self.vertex_ids, vertex_ids)
        index = np.minimum(index, len(self.vertex_ids) - 1)
        return np.where(self.vertex_ids[index] == vertex_ids, index, -1)

    def packed_matrix(self, vertex_ids: list[int]) -> np.ndarray:
        from scipy.sparse.csgraph import dijkstra

        index = self.index_of(vertex_ids)
        inside = np.flatnonzero(index >= 0)
        result = np.full((len(vertex_ids), len(vertex_ids)), np.inf)
        np.fill_diagonal(result, 0.0)
        step = max(1, DIJKSTRA_CELLS_PER_CALL // max(1, len(self.vertex_ids)))
        for start in range(0, len(inside), step):
            rows = inside[start:start + step]
            found = dijkstra(self.csr, directed=True, indices=index[rows])
            result[np.ix_(rows, inside)] = found[:, index[inside]]
        return result

    def paths(self, pairs: list[tuple[int, int]]) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """For each (source, target) vertex pair, its fastest path as arrays of edge ids and
        of whether each is run along its geometry; None when there is no path."""
        from scipy.sparse.csgraph import dijkstra

        sources = sorted({s for s, _t in pairs})
        source_index = self.index_of(sources)
        if not len(self.vertex_ids):
            return [None] * len(pairs)
        row_of = {s: row for row, s in enumerate(sources)}
        _costs, predecessors = dijkstra(self.csr, directed=True,
                                        indices=np.maximum(source_index, 0),
                                        return_predecessors=True)
        size = len(self.vertex_ids)
        target_index = self.index_of([t for _s, t in pairs]).tolist()
        trees: dict[int, list[int]] = {}  # predecessor rows as lists: fast to walk
        results: list[tuple[np.ndarray, np.ndarray] | None] = []
        for (source, _target), t in zip(pairs, target_index, strict=True):
            row = row_of[source]
            s = int(source_index[row])
            if s < 0 or t < 0:
                results.append(None)
                continue
            if row not in trees:
                trees[row] = predecessors[row].tolist()
            chain, vertex, tree = [t], t, trees[row]
            while vertex != s and vertex >= 0:
                vertex = tree[vertex]
                chain.append(vertex)
            if vertex < 0:
                results.append(None)
                continue
            chain_array = np.array(chain[::-1], dtype=np.int64)
            arcs = np.searchsorted(self.arc_key, chain_array[:-1] * size + chain_array[1:])
            results.append((self.arc_edge[arcs], self.arc_forward[arcs]))
        return results


_graph_cache: OrderedDict[tuple, RoadGraph] = OrderedDict()
_graph_cache_lock = threading.Lock()


def road_graph(box: tuple[float, float, float, float]) -> RoadGraph:
    """The graph of the edges in `box` (rounded out to a grid), cached per network version."""
    version = network_version() or 0
    grid = GRAPH_BOX_GRID_DEG
    box = (math.floor(box[0] / grid) * grid, math.floor(box[1] / grid) * grid,
           math.ceil(box[2] / grid) * grid, math.ceil(box[3] / grid) * grid)
    key = (connection.settings_dict["NAME"], version, box)
    with _graph_cache_lock:
        if key in _graph_cache:
            _graph_cache.move_to_end(key)
            return _graph_cache[key]
    with connection.cursor() as cursor:
        cursor.execute(_GRAPH_SQL, list(box))
        rows = np.array(cursor.fetchall(), dtype=np.float64).reshape(-1, 5)
    graph = RoadGraph(rows)
    with _graph_cache_lock:
        _graph_cache[key] = graph
        while len(_graph_cache) > GRAPH_CACHE_SIZE:
            _graph_cache.popitem(last=False)
    return graph


# --- The pgRouting engine.

def pgr_packed_matrix(vertex_ids: list[int], box: tuple) -> np.ndarray:
    """Packed costs between the vertices from one pgr_dijkstraCostMatrix call; inf where
    unreachable."""
    size = len(vertex_ids)
    result = np.full((size, size), np.inf)
    np.fill_diagonal(result, 0.0)
    if size < 2:
        return result
    order = np.argsort(vertex_ids)
    ordered = np.asarray(vertex_ids, dtype=np.int64)[order]
    with connection.cursor() as cursor:
        cursor.execute(_PGR_MATRIX_SQL, [*box, list(vertex_ids)])
        rows = np.array(cursor.fetchall(), dtype=np.float64).reshape(-1, 3)
    starts = order[np.searchsorted(ordered, rows[:, 0].astype(np.int64))]
    ends = order[np.searchsorted(ordered, rows[:, 1].astype(np.int64))]
    result[starts, ends] = rows[:, 2]
    return result


# --- Matrices.

def _great_circle_result(points: list[Point]) -> Matrix:
    metres = _great_circle_matrix_m(points)
    return Matrix(durations_s=(metres * DETOUR_FACTOR / (FALLBACK_SPEED_KMH / 3.6)).tolist(),
                  distances_m=(metres * DETOUR_FACTOR).tolist(), source="great_circle",
                  fallback_pairs=len(points) * (len(points) - 1))


def travel_matrix(points: list[Point], *, engine: Engine | None = None) -> Matrix:
    """Durations (s) and distances (m) of the fastest routes between all ordered pairs.

    Both include the access stretches to and from the vertices. Pairs with an unsnapped
    point get the plain great-circle estimate; snapped pairs the network does not connect
    get it × `UNREACHABLE_PENALTY`.
    """
    if not points:
        return Matrix(durations_s=[], distances_m=[], source="great_circle")
    snaps = snap(points) if network_loaded() else []
    snapped = [i for i, s in enumerate(snaps) if s.snapped]
    if not snapped:
        return _great_circle_result(points)

    vertex_ids = sorted({snaps[i].vertex_id for i in snapped})
    box = routing_box([snaps[i].vertex for i in snapped])
    if (engine or routing_engine()) == "scipy":
        packed = road_graph(box).packed_matrix(vertex_ids)
    else:
        packed = pgr_packed_matrix(vertex_ids, box)
    network_s, network_m = _unpack(packed)

    size = len(points)
    on = np.zeros(size, bool)
    on[snapped] = True
    column = np.zeros(size, int)
    column[snapped] = np.searchsorted(vertex_ids, [snaps[i].vertex_id for i in snapped])
    access_m = np.array([s.distance_m if s.snapped else 0.0 for s in snaps])
    access_s = access_m / (ACCESS_SPEED_KMH / 3.6)
    pair = np.ix_(column, column)
    durations = np.where(np.outer(on, on),
                         access_s[:, None] + network_s[pair] + access_s[None, :], np.nan)
    distances = np.where(np.outer(on, on),
                         access_m[:, None] + network_m[pair] + access_m[None, :], np.nan)

    great_circle = _great_circle_matrix_m(points)
    penalty = np.where(np.outer(on, on), UNREACHABLE_PENALTY, 1.0)
    missing = np.isnan(durations)
    durations = np.where(missing, great_circle * penalty * DETOUR_FACTOR
                         / (FALLBACK_SPEED_KMH / 3.6), durations)
    distances = np.where(missing, great_circle * penalty * DETOUR_FACTOR, distances)
    np.fill_diagonal(durations, 0.0)
    np.fill_diagonal(distances, 0.0)
    np.fill_diagonal(missing, False)
    return Matrix(durations_s=durations.tolist(), distances_m=distances.tolist(),
                  source="road_network", fallback_pairs=int(missing.sum()))


# --- Paths.

def _legs_network(pairs: list[tuple[int, int]], box: tuple, engine: Engine
                  ) -> dict[tuple[int, int], tuple[float, float, bytes]]:
    """(duration s, length m, WKB line) of the fastest path of each connected vertex pair."""
    if engine == "scipy":
        steps = road_graph(box).paths(pairs)
        found = [(leg, path) for leg, path in enumerate(steps) if path is not None]
        sizes = [len(edges) for _leg, (edges, _forward) in found]
        params = [
            np.repeat([leg for leg, _path in found], sizes),
            np.concatenate([np.arange(size) for size in sizes] or [[]]),
            np.concatenate([edges for _leg, (edges, _forward) in found] or [[]]),
            np.concatenate([forward for _leg, (_edges, forward) in found] or [[]]),
        ]
        sql, params = _LEGS_SQL, [_pg_array(values) for values in params]
    else:
        sources, targets = [s for s, _t in pairs], [t for _s, t in pairs]
        sql, params = _PGR_PATHS_SQL, [sources, targets, *box, sources, targets]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        # pgr numbers legs from 1 (ordinality), the scipy engine from 0.
        offset = 0 if engine == "scipy" else 1
        return {pairs[leg - offset]: (duration, length, bytes(wkb))
                for leg, duration, length, wkb in cursor.fetchall()}


def route_paths(routes: list[list[Point]], *, engine: Engine | None = None) -> list[Path]:
    """The road path through each route's points, in order, from one search for all.

    A path runs point → its vertex → roads → next vertex → next point, so it starts and
    ends at the given points and touches each stop; a leg the network cannot serve is a
    straight line costed like the matrix's fallback.
    """
    if any(len(points) < 2 for points in routes):
        raise ValueError("a route needs at least two points")
    flat = [p for points in routes for p in points]
    snaps = snap(flat) if flat and network_loaded() else [Snap(point=p) for p in flat]
    by_route, start = [], 0
    for points in routes:
        by_route.append(snaps[start:start + len(points)])
        start += len(points)
    pairs = sorted({(a.vertex_id, b.vertex_id) for route in by_route
                    for a, b in pairwise(route)
                    if a.snapped and b.snapped and a.vertex_id != b.vertex_id})
    found = {}
    if pairs:
        box = routing_box([s.vertex for s in snaps if s.snapped])
        found = _legs_network(pairs, box, engine or "pgrouting")
    return [_path_assemble(route, found) for route in by_route]


def route_path(points: list[Point], *, engine: Engine | None = None) -> Path:
    return route_paths([points], engine=engine)[0]


def _path_assemble(route: list[Snap], found: dict) -> Path:
    pieces: list[np.ndarray] = []
    legs: list[Leg] = []
    for a, b in pairwise(route):
        both = a.snapped and b.snapped
        network = found.get((a.vertex_id, b.vertex_id)) if both else None
        if both and (network or a.vertex_id == b.vertex_id):
            duration, length, wkb = network or (0.0, 0.0, None)
            access_m = a.distance_m + b.distance_m
            legs.append(Leg(duration_s=duration + access_m / (ACCESS_SPEED_KMH / 3.6),
                            distance_m=length + access_m, source="road_network"))
            pieces.append(np.array([a.point.coords, a.vertex.coords]))
            if wkb is not None:
                pieces.append(shapely.get_coordinates(shapely.from_wkb(wkb)))
            pieces.append(np.array([b.vertex.coords, b.point.coords]))
        else:
            metres = great_circle_m(a.point, b.point) * (UNREACHABLE_PENALTY if both else 1.0)
            legs.append(Leg(duration_s=fallback_duration_s(metres),
                            distance_m=fallback_distance_m(metres), source="great_circle"))
            pieces.append(np.array([a.point.coords, b.point.coords]))
    coords = np.concatenate(pieces)
    keep = np.ones(len(coords), bool)
    keep[1:] = np.any(coords[1:] != coords[:-1], axis=1)
    coords = coords[keep]
    if len(coords) < 2:  # every point at the same place
        coords = np.array([route[0].point.coords, route[-1].point.coords])
    line = GEOSGeometry(memoryview(shapely.to_wkb(shapely.linestrings(coords))), srid=4326)
    return Path(
        geometry=line, duration_s=sum(leg.duration_s for leg in legs),
        distance_m=sum(leg.distance_m for leg in legs),
        source="road_network" if any(leg.source == "road_network" for leg in legs)
        else "great_circle",
        legs=legs,
    )
