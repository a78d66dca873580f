"""Map matching: which road edges a vehicle drove, from its GPS pings.

A hidden Markov model after Newson & Krumm, "Hidden Markov Map Matching Through Noise and
Sparseness" (ACM SIGSPATIAL 2009), solved with Viterbi:

- **states** are *arcs* (an edge driven along its geometry, or against it where the road is
  two-way; one-way roads only forwards) near each ping: the edges within `RADIUS_M`
  (at most `MAX_EDGES` nearest), found with a shapely STRtree over the edges of the traces'
  box in a local metric plane (one query for all pings);
- **emission**: a Gaussian of the ping's distance to the arc, σ = the ping's accuracy
  clamped to [`SIGMA_MIN_M`, `SIGMA_MAX_M`];
- **transition**: exponential in |route distance − great-circle distance| / `BETA_M`. The
  route distance from an arc position to the next is along the arc, or to its end, along
  the shortest road path (scipy Dijkstra over metres, bounded by what the vehicle can drive
  in the interval at `MAX_SPEED_MPS`), and into the next arc. A U-turn in mid-street is
  allowed at a cost of `U_TURN_PENALTY_M`; at a junction or a dead end it is an ordinary
  path (the vertex back to itself). A step no arc pair can make breaks the trace.

Why this and not nearest-edge snapping: on parallel streets a ping drifting towards the
other street snaps there, and every other ping flips; in the HMM the flip costs a detour
of the streets' distance twice, so the consistent street wins (Newson & Krumm's result,
and what OSRM's and Valhalla's matchers do).

Before matching, a trace is
- **split** where two pings are more than `GAP_S` apart (a tunnel, a phone switched off:
  nothing is guessed across the gap) or where no arc is near a ping;
- **thinned**: a ping within `STATIONARY_M` of the last kept one is dropped (a parked
  plow's jitter would otherwise read as tiny back-and-forth drives; N&K drop points within
  2σ the same way).

The matched path is completed between consecutive pings with the shortest road path, so
short edges driven between two pings are recorded too. The result is a list of
`Traversal`s: each edge the vehicle drove, in order, with its direction and the time it
entered it (a ping's time, or interpolated along a completed path).

Imports no domain app: callers pass plain points and times.
"""

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

import numpy as np
import shapely
from django.db import connection

from gis.models import RoadEdge
from gis.routing import EARTH_RADIUS_M, routing_box

RADIUS_M = 40.0
MAX_EDGES = 4
SIGMA_MIN_M = 5.0
SIGMA_MAX_M = 25.0
SIGMA_DEFAULT_M = 10.0
BETA_M = 25.0
GAP_S = 120.0
STATIONARY_M = 20.0
MAX_SPEED_MPS = 35.0
# A route may exceed the straight line by this much besides what speed allows (a block
# around, a U-turn at the end of a street).
ROUTE_SLACK_M = 400.0
U_TURN_PENALTY_M = 60.0
MARGIN_M = 500.0
DIJKSTRA_ROWS = 256  # sources per Dijkstra call: bounds the (rows × vertices) arrays

_EDGES = RoadEdge._meta.db_table
_EDGES_SQL = f"""
    SELECT id, source, target, length_m, reverse_cost >= 0, ST_AsBinary(geom)
    FROM {_EDGES} WHERE geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)
"""


@dataclass(frozen=True)
class Ping:
    lon: float
    lat: float
    at: datetime
    accuracy_m: float | None = None


@dataclass(frozen=True)
class Traversal:
    edge_id: int
    forward: bool  # along the edge's geometry (source → target)
    at: datetime  # when the vehicle entered (or was first seen on) the edge
    trace: int  # which piece of the trace (pieces are split at gaps)


@dataclass
class MatchResult:
    traversals: list[Traversal]
    pings: int
    kept: int  # pings left after thinning
    matched: int  # kept pings matched to an arc
    pieces: int


class _Plane:
    """An equirectangular projection around a latitude: metres, good to 0.1 % over a city."""

    def __init__(self, lon0: float, lat0: float):
        self.lon0, self.lat0 = lon0, lat0
        self.ky = math.pi * EARTH_RADIUS_M / 180
        self.kx = self.ky * math.cos(math.radians(lat0))

    def xy(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        return ((np.asarray(lon) - self.lon0) * self.kx, (np.asarray(lat) - self.lat0) * self.ky)


class MatchNetwork:
    """The edges of a box: their lines in a metric plane, an STRtree, and a directed graph of
    arcs weighted by length (CSR, for scipy's Dijkstra).

    Arc 2·i runs along edge i's geometry, arc 2·i+1 against it (absent on one-way roads)."""

    def __init__(self, rows: list[tuple], plane: _Plane):
        from scipy.sparse import csr_matrix

        self.plane = plane
        count = len(rows)
        self.edge_ids = np.array([r[0] for r in rows], dtype=np.int64)
        source = np.array([r[1] for r in rows], dtype=np.int64)
        target = np.array([r[2] for r in rows], dtype=np.int64)
        self.length = np.array([r[3] for r in rows], dtype=np.float64)
        self.two_way = np.array([bool(r[4]) for r in rows], dtype=bool)
        lines = shapely.from_wkb([bytes(r[5]) for r in rows]) if rows else np.array([])
        coords, index = (shapely.get_coordinates(lines, return_index=True) if count
                         else (np.zeros((0, 2)), np.zeros(0, int)))
        x, y = plane.xy(coords[:, 0], coords[:, 1])
        self.lines = (shapely.linestrings(np.column_stack([x, y]), indices=index) if count
                      else np.array([]))
        # The geometry's own length in the plane: positions along a line are in its units.
        self.plane_length = shapely.length(self.lines) if count else np.zeros(0)
        self.tree = shapely.STRtree(self.lines)
        self.vertex_ids, inverse = np.unique(np.concatenate([source, target]),
                                             return_inverse=True)
        self.source, self.target = inverse[:count], inverse[count:]
        # Graph: vertices, weights in metres; parallel edges keep the shortest.
        u = np.concatenate([self.source, self.target[self.two_way]])
        v = np.concatenate([self.target, self.source[self.two_way]])
        w = np.concatenate([self.length, self.length[self.two_way]])
        keep = u != v
        u, v, w = u[keep], v[keep], w[keep]
        order = np.lexsort((w, v, u))
        u, v, w = u[order], v[order], w[order]
        first = np.ones(len(u), bool)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        u, v, w = u[first], v[first], w[first]
        size = len(self.vertex_ids)
        self.arc_key = u * size + v
        self.arc_edge = np.concatenate([np.arange(count), np.flatnonzero(self.two_way)]
                                       )[keep][order][first]
        self.arc_forward = np.concatenate([np.ones(count, bool),
                                           np.zeros(int(self.two_way.sum()), bool)]
                                          )[keep][order][first]
        # Zero-length arcs would vanish from a sparse matrix: give them a millimetre.
        self.csr = csr_matrix((np.maximum(w, 1e-3), v.astype(np.int32),
                               np.searchsorted(u, np.arange(size + 1)).astype(np.int32)),
                              shape=(size, size))

    def arc_ends(self, arcs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(start vertex, end vertex) of each arc, as graph positions."""
        edge, backward = arcs // 2, arcs % 2 == 1
        start = np.where(backward, self.target[edge], self.source[edge])
        end = np.where(backward, self.source[edge], self.target[edge])
        return start, end


def network_for(lons: np.ndarray, lats: np.ndarray) -> MatchNetwork:
    """The match network of the pings' box grown by `MARGIN_M` (with routing_box's rule)."""
    from django.contrib.gis.geos import Point

    corners = [Point(float(lons.min()), float(lats.min())),
               Point(float(lons.max()), float(lats.max()))]
    box = routing_box(corners)
    # routing_box grows by at least 3 km; matching needs only reach around the pings.
    dlat = MARGIN_M / (math.pi * EARTH_RADIUS_M / 180)
    dlon = dlat / max(math.cos(math.radians(float(lats.mean()))), 0.01)
    box = (max(box[0], float(lons.min()) - dlon), max(box[1], float(lats.min()) - dlat),
           min(box[2], float(lons.max()) + dlon), min(box[3], float(lats.max()) + dlat))
    with connection.cursor() as cursor:
        cursor.execute(_EDGES_SQL, list(box))
        rows = cursor.fetchall()
    return MatchNetwork(rows, _Plane(float(lons.mean()), float(lats.mean())))


def _pieces(pings: list[Ping], plane: _Plane) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
    """Indices of the kept pings, per piece (split at gaps), and their plane coordinates."""
    x, y = plane.xy([p.lon for p in pings], [p.lat for p in pings])
    pieces: list[list[int]] = []
    last = None  # the last kept ping
    for i, ping in enumerate(pings):
        if last is None or (ping.at - pings[i - 1].at).total_seconds() > GAP_S:
            pieces.append([i])
            last = i
            continue
        if math.hypot(x[i] - x[last], y[i] - y[last]) < STATIONARY_M:
            continue
        pieces[-1].append(i)
        last = i
    return pieces, x, y


def _candidates(net: MatchNetwork, x: np.ndarray, y: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ping index, arc, distance m, position along the arc m) of every candidate."""
    points = shapely.points(x, y)
    if not len(net.lines):
        empty = np.zeros(0)
        return empty.astype(int), empty.astype(int), empty, empty
    ping, edge = net.tree.query(points, predicate="dwithin", distance=RADIUS_M)
    distance = shapely.distance(net.lines[edge], points[ping])
    # The MAX_EDGES nearest edges of each ping.
    order = np.lexsort((distance, ping))
    ping, edge, distance = ping[order], edge[order], distance[order]
    rank = np.arange(len(ping)) - np.searchsorted(ping, ping)
    keep = rank < MAX_EDGES
    ping, edge, distance = ping[keep], edge[keep], distance[keep]
    along = shapely.line_locate_point(net.lines[edge], points[ping])
    # In metres of the edge's stored length (the plane's length differs by < 0.1 %).
    along = along / np.maximum(net.plane_length[edge], 1e-9) * net.length[edge]
    forward = (ping, edge * 2, distance, along)
    two = net.two_way[edge]
    backward = (ping[two], edge[two] * 2 + 1, distance[two],
                net.length[edge[two]] - along[two])
    ping, arc, distance, along = (np.concatenate([a, b]) for a, b in zip(forward, backward,
                                                                          strict=True))
    order = np.lexsort((arc, ping))
    return ping[order], arc[order], distance[order], along[order]


# Dijkstra bounds, metres: a source is searched to the smallest tier covering its steps.
LIMIT_TIERS_M = (800.0, 1600.0, 3200.0, GAP_S * MAX_SPEED_MPS + ROUTE_SLACK_M)


def _distances(net: MatchNetwork, keys: np.ndarray, reach: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Shortest road distances (m) of vertex pairs given as `source·size + target` keys
    (sorted, unique), each searched within its `reach`; (keys, distances), inf where
    unreachable within it."""
    from scipy.sparse.csgraph import dijkstra

    size = len(net.vertex_ids)
    result = np.full(len(keys), np.inf)
    if not len(keys):
        return keys, result
    source, target = keys // size, keys % size
    # Each source is searched once, to the largest reach any of its pairs needs.
    sources, inverse = np.unique(source, return_inverse=True)
    source_reach = np.zeros(len(sources))
    np.maximum.at(source_reach, inverse, reach)
    tier = np.searchsorted(np.array(LIMIT_TIERS_M), source_reach)
    tier = np.minimum(tier, len(LIMIT_TIERS_M) - 1)
    for level, limit in enumerate(LIMIT_TIERS_M):
        rows_all = np.flatnonzero(tier == level)
        for start in range(0, len(rows_all), DIJKSTRA_ROWS):
            rows = rows_all[start:start + DIJKSTRA_ROWS]
            dist = dijkstra(net.csr, directed=True, indices=sources[rows], limit=limit)
            position = np.full(len(sources), -1)
            position[rows] = np.arange(len(rows))
            mask = position[inverse] >= 0
            result[mask] = dist[position[inverse[mask]], target[mask]]
    return keys, result


def _paths(net: MatchNetwork, pairs: set[tuple[int, int]], limit_m: float
           ) -> dict[tuple[int, int], list[int]]:
    """The arcs of the shortest path between vertex pairs (within `limit_m`)."""
    from scipy.sparse.csgraph import dijkstra

    by_source: dict[int, list[int]] = defaultdict(list)
    for s, t in pairs:
        by_source[s].append(t)
    sources = sorted(by_source)
    size = len(net.vertex_ids)
    found: dict[tuple[int, int], list[int]] = {}
    for start in range(0, len(sources), DIJKSTRA_ROWS):
        rows = sources[start:start + DIJKSTRA_ROWS]
        _dist, predecessors = dijkstra(net.csr, directed=True, indices=rows, limit=limit_m,
                                       return_predecessors=True)
        for row, s in enumerate(rows):
            tree = predecessors[row]
            for t in by_source[s]:
                chain = [t]
                while chain[-1] != s and chain[-1] >= 0:
                    chain.append(int(tree[chain[-1]]))
                if chain[-1] != s:
                    continue
                chain.reverse()
                keys = np.array(chain[:-1], dtype=np.int64) * size + np.array(chain[1:])
                arcs = np.searchsorted(net.arc_key, keys)
                found[(s, t)] = [int(net.arc_edge[a]) * 2 + (0 if net.arc_forward[a] else 1)
                                 for a in arcs]
    return found


def match(pings: list[Ping], *, network: MatchNetwork | None = None) -> MatchResult:
    """Match one vehicle's pings (any order) to the road edges it drove. See the module
    docstring for the model.

    Candidates, emissions and every transition of the trace are computed as flat numpy
    arrays at once; only Viterbi's recursion walks the steps."""
    pings = sorted(pings, key=lambda p: p.at)
    if not pings:
        return MatchResult(traversals=[], pings=0, kept=0, matched=0, pieces=0)
    net = network or network_for(np.array([p.lon for p in pings]),
                                 np.array([p.lat for p in pings]))
    pieces, x, y = _pieces(pings, net.plane)
    kept = np.array([i for piece in pieces for i in piece], dtype=np.int64)
    piece_of_kept = np.concatenate([np.full(len(piece), n) for n, piece in enumerate(pieces)])
    c_ping, c_arc, c_dist, c_along = _candidates(net, x[kept], y[kept])
    # Candidate ranges per kept ping (by position in `kept`).
    first = np.searchsorted(c_ping, np.arange(len(kept)))
    last = np.searchsorted(c_ping, np.arange(len(kept)), side="right")
    count = last - first
    c_start, c_end = net.arc_ends(c_arc)
    c_len = net.length[c_arc // 2]
    seconds_of = np.array([(p.at - pings[0].at).total_seconds() for p in pings])
    sigma = np.clip(np.array([p.accuracy_m or SIGMA_DEFAULT_M for p in pings]),
                    SIGMA_MIN_M, SIGMA_MAX_M)
    c_emit = -0.5 * (c_dist / sigma[kept][c_ping]) ** 2

    # Runs: consecutive kept pings of one piece, all with candidates.
    has = count > 0
    run_id = np.cumsum(np.concatenate([[1], (~has[1:] | ~has[:-1]
                                            | (piece_of_kept[1:] != piece_of_kept[:-1]))
                                       .astype(int)]))
    # Transitions k: kept position a → a + 1 within a run.
    a = np.flatnonzero(has[:-1] & has[1:] & (run_id[1:] == run_id[:-1]))
    b = a + 1
    na, nb = count[a], count[b]
    sizes = na * nb
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    k = np.repeat(np.arange(len(a)), sizes)
    q = np.arange(int(offsets[-1])) - offsets[k]
    i = first[a][k] + q // nb[k]
    j = first[b][k] + q % nb[k]
    gc = np.hypot(x[kept[b]] - x[kept[a]], y[kept[b]] - y[kept[a]])
    reach = (np.maximum(seconds_of[kept[b]] - seconds_of[kept[a]], 1.0) * MAX_SPEED_MPS
             + ROUTE_SLACK_M)
    same = c_arc[i] == c_arc[j]
    onward = same & (c_along[j] >= c_along[i] - STATIONARY_M)
    size = len(net.vertex_ids)
    key = c_end[i].astype(np.int64) * size + c_start[j]
    needed = ~onward
    keys, inverse = np.unique(key[needed], return_inverse=True)
    key_reach = np.zeros(len(keys))
    np.maximum.at(key_reach, inverse, reach[k[needed]])
    _keys, road = _distances(net, keys, key_reach)
    between = np.full(len(i), np.inf)
    between[needed] = road[inverse]
    route = np.where(onward, np.maximum(c_along[j] - c_along[i], 0.0),
                     c_len[i] - c_along[i] + between + c_along[j])
    turn = (c_arc[i] // 2 == c_arc[j] // 2) & ~same
    route = np.where(turn, np.minimum(route, np.abs(c_len[i] - c_along[i] - c_along[j])
                                      + U_TURN_PENALTY_M), route)
    logp = np.where(route <= reach[k], -np.abs(route - gc[k]) / BETA_M, -np.inf)

    # Viterbi over each run; a step no pair can make restarts the chain (a new piece).
    chosen = np.full(len(kept), -1)
    piece_no = np.full(len(kept), -1)
    transition_of = np.full(len(kept), -1)
    transition_of[b] = np.arange(len(a))
    piece = -1
    score = None
    back: list[np.ndarray | None] = []
    run_positions: list[int] = []

    def backtrack() -> None:
        if not run_positions:
            return
        index = int(np.argmax(score))
        for t in range(len(run_positions) - 1, -1, -1):
            chosen[run_positions[t]] = first[run_positions[t]] + index
            pointers = back[t]
            if pointers is not None:
                index = int(pointers[index])

    for position in np.flatnonzero(has).tolist():
        sl = slice(first[position], last[position])
        t_k = transition_of[position]
        if t_k >= 0 and score is not None:
            block = logp[offsets[t_k]:offsets[t_k + 1]].reshape(na[t_k], nb[t_k])
            total = score[:, None] + block
            best = total.argmax(axis=0)
            value = total[best, np.arange(total.shape[1])]
            if np.isfinite(value).any():
                back.append(best)
                score = value + c_emit[sl]
                run_positions.append(position)
                piece_no[position] = piece
                continue
        backtrack()
        piece += 1
        back, run_positions = [None], [position]
        score = c_emit[sl].copy()
        piece_no[position] = piece
    backtrack()

    matched = np.flatnonzero(chosen >= 0)
    steps = [(int(kept[p]), int(chosen[p]), int(piece_no[p])) for p in matched]
    limit = float(reach.max()) if len(reach) else ROUTE_SLACK_M
    traversals = _traversals(net, pings, steps, c_arc, c_along, c_start, c_end, limit)
    return MatchResult(traversals=traversals, pings=len(pings), kept=len(kept),
                       matched=len(matched), pieces=piece + 1)


def _traversals(net: MatchNetwork, pings: list[Ping], steps: list[tuple[int, int, int]],
                c_arc: np.ndarray, c_along: np.ndarray, c_start: np.ndarray,
                c_end: np.ndarray, limit_m: float) -> list[Traversal]:
    """The edges driven, in order: each matched arc once per stay on it, and the arcs of the
    shortest path between consecutive matched arcs that do not meet."""
    needs: set[tuple[int, int]] = set()
    for (_pa, ca, na), (_pb, cb, nb) in pairwise(steps):
        arc_a, arc_b = int(c_arc[ca]), int(c_arc[cb])
        if na == nb and arc_a != arc_b and arc_a // 2 != arc_b // 2 \
                and c_end[ca] != c_start[cb]:
            needs.add((int(c_end[ca]), int(c_start[cb])))
    paths = _paths(net, needs, limit_m) if needs else {}

    out: list[Traversal] = []
    ordinal: dict[int, int] = {}
    current: tuple[int, int] | None = None  # (piece, arc)

    def add(arc: int, at: datetime, piece: int) -> None:
        nonlocal current
        if current == (piece, arc):
            return
        current = (piece, arc)
        trace = ordinal.setdefault(piece, len(ordinal))
        out.append(Traversal(edge_id=int(net.edge_ids[arc // 2]), forward=arc % 2 == 0,
                             at=at, trace=trace))

    previous = None
    for ping, cand, piece in steps:
        arc = int(c_arc[cand])
        if previous is not None and previous[2] == piece:
            p_ping, p_cand = previous[0], previous[1]
            p_arc = int(c_arc[p_cand])
            between = paths.get((int(c_end[p_cand]), int(c_start[cand])), [])
            if between and p_arc != arc and p_arc // 2 != arc // 2:
                # Entry times interpolated over the distance: the rest of the last arc, the
                # path, the way into this one.
                t0, t1 = pings[p_ping].at, pings[ping].at
                span = (t1 - t0).total_seconds()
                lengths = [float(net.length[x // 2]) for x in between]
                done = max(float(net.length[p_arc // 2]) - float(c_along[p_cand]), 0.0)
                total = done + sum(lengths) + float(c_along[cand]) or 1.0
                for step_arc, length in zip(between, lengths, strict=True):
                    add(step_arc, t0 + timedelta(seconds=span * done / total), piece)
                    done += length
        add(arc, pings[ping].at, piece)
        previous = (ping, cand, piece)
    return out
