"""Road network: import an OSM extract, then time a dispatch-size travel matrix and the route
geometries, against the naive "one pgr_dijkstra call per pair".

In its own database (rasad_bench_roads, created and migrated if missing), it:

  1. imports --pbf with gis.roads.roads_import (counts and seconds);
  2. draws --points incident points near roads (up to 30 m off a random stretch, stretches
     weighted by length) plus --depots crew start and end points: 1,000 + 2 × 40 = 1,080;
  3. times gis.routing.travel_matrix on them, end to end (snapping included), with each
     engine: "scipy" (cold: graph loaded from the database; warm: graph cached) and
     "pgrouting" (one pgr_dijkstraCostMatrix over packed costs);
  4. at --compare points, times the pgRouting ways of getting durations and distances:
     two pgr_dijkstraCostMatrix calls (seconds, metres), one over packed costs, and one
     many-to-many pgr_dijkstra summing both along the paths;
  5. times --baseline-pairs random pairs, one pgr_dijkstra call each (same edges SQL,
     summing seconds and metres), and extrapolates to the matrix's n × (n - 1) pairs;
  6. times gis.routing.route_paths for --routes routes of --stops stops (+ depot at both
     ends) with each engine; each route takes the stops nearest its depot not yet taken,
     in nearest-neighbour order, roughly as an optimiser would.

Prints tables; asserts nothing.

    .venv/bin/python benchmarks/road_matrix.py [--pbf /work/shared/osm/andorra.osm.pbf]
        [--points 1000] [--depots 40] [--compare 200] [--baseline-pairs 300]
        [--routes 40] [--stops 25] [--skip-import] [--skip-pgrouting]
"""

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    bench_env,
    database_ensure,
    database_use,
    machine_describe,
    table_print,
)

DEFAULT_PBF = "/work/shared/osm/andorra.osm.pbf"
TARGET_RATIO = 5.0
TARGET_MATRIX_S = 3.0
OFF_ROAD_M = 30.0


def django_setup() -> None:
    os.environ.update(bench_env())
    import django

    django.setup()


def points_near_roads(count: int, rng: random.Random) -> list:
    """Random points up to OFF_ROAD_M from the roads, stretches weighted by length."""
    import math

    import shapely
    from django.contrib.gis.geos import Point

    from gis.models import RoadEdge

    rows = list(RoadEdge.objects.order_by("id").values_list("geom", "length_m"))
    lines = shapely.from_wkb([bytes(geom.wkb) for geom, _length in rows])
    lengths = [length for _geom, length in rows]
    chosen = rng.choices(range(len(rows)), weights=lengths, k=count)
    points = []
    for index in chosen:
        spot = shapely.line_interpolate_point(lines[index], rng.random(), normalized=True)
        angle, metres = rng.uniform(0, 2 * math.pi), rng.uniform(0, OFF_ROAD_M)
        dlat = metres * math.sin(angle) / 111_320
        dlon = metres * math.cos(angle) / (111_320 * math.cos(math.radians(spot.y)))
        points.append(Point(spot.x + dlon, spot.y + dlat, srid=4326))
    return points


def routes_near_depots(incidents: list, depots: list, stops: int) -> list[list]:
    """For each depot, the `stops` nearest incidents not yet taken, in nearest-neighbour
    order, from and back to the depot."""
    import math

    def metres(a, b) -> float:
        return math.hypot((a.x - b.x) * math.cos(math.radians(a.y)), a.y - b.y) * 111_320

    remaining = list(incidents)
    routes = []
    for depot in depots:
        remaining.sort(key=lambda p: metres(depot, p))
        chosen, remaining = remaining[:stops], remaining[stops:]
        route, here = [depot], depot
        while chosen:
            here = min(chosen, key=lambda p: metres(here, p))
            chosen.remove(here)
            route.append(here)
        routes.append([*route, depot])
    return routes


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def pgr_alternatives(vertex_ids: list[int], box) -> list[list]:
    """Seconds for each way pgRouting can give durations and distances for the vertices."""
    from django.db import connection

    from gis.models import RoadEdge
    from gis.routing import pgr_packed_matrix

    edges = RoadEdge._meta.db_table
    plain = ("format('SELECT id, source, target, {cost} AS cost, {reverse} AS reverse_cost "
             f"FROM {edges} WHERE geom && ST_MakeEnvelope(%%L, %%L, %%L, %%L, 4326)', "
             "%s::float8, %s::float8, %s::float8, %s::float8)")
    by_time = plain.format(cost="cost", reverse="reverse_cost")
    by_length = plain.format(cost="length_m",
                             reverse="CASE WHEN reverse_cost < 0 THEN -1 ELSE length_m END")

    def cost_matrix(edges_sql: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM pgr_dijkstraCostMatrix({edges_sql}, "
                           "%s::bigint[], directed => true)", [*box, vertex_ids])
            return cursor.fetchone()[0]

    def many_to_many() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM (SELECT d.start_vid, d.end_vid, sum(d.cost), "
                f"sum(e.length_m) FROM pgr_dijkstra({by_time}, %s::bigint[], %s::bigint[], "
                f"directed => true) AS d JOIN {edges} e ON e.id = d.edge "
                f"GROUP BY d.start_vid, d.end_vid) AS pairs",
                [*box, vertex_ids, vertex_ids])
            return cursor.fetchone()[0]

    rows = []
    _pairs, seconds_time = timed(cost_matrix, by_time)
    _pairs, seconds_length = timed(cost_matrix, by_length)
    rows.append(["2 × pgr_dijkstraCostMatrix (s, m)", f"{seconds_time + seconds_length:.2f}"])
    _matrix, seconds = timed(pgr_packed_matrix, vertex_ids, box)
    rows.append(["1 × pgr_dijkstraCostMatrix, packed costs", f"{seconds:.2f}"])
    _pairs, seconds = timed(many_to_many)
    rows.append(["1 × pgr_dijkstra many-to-many, summed", f"{seconds:.2f}"])
    return rows


def baseline_per_pair(vertex_ids: list[int], box, pairs: int, rng: random.Random) -> float:
    """Mean seconds of one pgr_dijkstra call for one pair (duration and distance)."""
    from django.db import connection

    from gis.models import RoadEdge

    edges = RoadEdge._meta.db_table
    sql = (f"SELECT sum(d.cost), sum(e.length_m) FROM pgr_dijkstra(format("
           f"'SELECT id, source, target, cost, reverse_cost FROM {edges} "
           f"WHERE geom && ST_MakeEnvelope(%%L, %%L, %%L, %%L, 4326)', "
           f"%s::float8, %s::float8, %s::float8, %s::float8), %s::bigint, %s::bigint, "
           f"directed => true) AS d JOIN {edges} e ON e.id = d.edge")
    sample = [tuple(rng.sample(vertex_ids, 2)) for _ in range(pairs)]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for source, target in sample:
            cursor.execute(sql, [*box, source, target])
            cursor.fetchone()
    return (time.perf_counter() - started) / pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pbf", default=DEFAULT_PBF)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--depots", type=int, default=40)
    parser.add_argument("--compare", type=int, default=200,
                        help="points for the pgRouting alternatives (they are slow)")
    parser.add_argument("--baseline-pairs", type=int, default=300)
    parser.add_argument("--routes", type=int, default=40)
    parser.add_argument("--stops", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-import", action="store_true",
                        help="use the network already in the benchmark database")
    parser.add_argument("--skip-pgrouting", action="store_true",
                        help="skip the pgRouting engine's full-size matrix (tens of seconds)")
    args = parser.parse_args()

    database_use("rasad_bench_roads")
    database_ensure()
    django_setup()
    from gis.roads import roads_import
    from gis.routing import route_paths, routing_box, routing_engine, snap, travel_matrix

    print(machine_describe())
    print("load average {:.1f} {:.1f} {:.1f} (1, 5, 15 min)".format(*os.getloadavg()))
    engines = ["scipy", "pgrouting"] if routing_engine() == "scipy" else ["pgrouting"]
    if "scipy" not in engines:
        print("scipy is not installed: the scipy engine is skipped (pgRouting only)")
    rng = random.Random(args.seed)

    if not args.skip_import:
        result, seconds = timed(roads_import, path=args.pbf)
        print(f"\nimport {args.pbf}: {result.ways} ways, {result.edges} edges, "
              f"{result.vertices} vertices ({result.snappable_vertices} snappable) "
              f"in {seconds:.2f} s")

    incidents = points_near_roads(args.points, rng)
    depots = points_near_roads(2 * args.depots, rng)
    points = incidents + depots
    snaps, snap_s = timed(snap, points)
    vertex_ids = sorted({s.vertex_id for s in snaps if s.snapped})
    box = routing_box([s.vertex for s in snaps if s.snapped])
    print(f"\n{len(points)} points ({args.points} incidents, {2 * args.depots} depot ends): "
          f"{sum(s.snapped for s in snaps)} snapped to {len(vertex_ids)} vertices "
          f"in {snap_s:.2f} s")

    rows, matrix_s = [], {}
    for engine in engines:
        if engine == "pgrouting" and args.skip_pgrouting:
            continue
        label = "cold" if engine == "scipy" else ""
        matrix, seconds = timed(travel_matrix, points, engine=engine)
        matrix_s[engine] = seconds
        rows.append([engine, label, f"{seconds:.2f}", matrix.source, matrix.fallback_pairs])
        if engine == "scipy":
            matrix, seconds = timed(travel_matrix, points, engine=engine)
            matrix_s[engine] = seconds
            rows.append([engine, "warm", f"{seconds:.2f}", matrix.source, matrix.fallback_pairs])
    print(f"\ntravel_matrix, {len(points)} × {len(points)}, end to end (snapping included):")
    table_print(["engine", "graph", "seconds", "source", "fallback pairs"], rows)

    compare = sorted(rng.sample(vertex_ids, min(args.compare, len(vertex_ids))))
    print(f"\npgRouting, durations and distances between {len(compare)} vertices:")
    table_print(["method", "seconds"], pgr_alternatives(compare, routing_box(
        [s.vertex for s in snaps if s.snapped and s.vertex_id in set(compare)])))

    per_pair = baseline_per_pair(vertex_ids, box, args.baseline_pairs, rng)
    pairs = len(points) * (len(points) - 1)
    baseline_s = per_pair * pairs
    print(f"\nbaseline: one pgr_dijkstra call per pair, {per_pair * 1000:.1f} ms each "
          f"({args.baseline_pairs} random pairs) × {pairs:,} pairs = {baseline_s:,.0f} s "
          f"({baseline_s / 3600:.1f} h)")
    rows = [[engine, f"{seconds:.2f}", f"{baseline_s / seconds:,.0f}×",
             "yes" if baseline_s / seconds >= TARGET_RATIO and seconds <= TARGET_MATRIX_S
             else "no"]
            for engine, seconds in matrix_s.items()]
    table_print(["engine", "matrix s", "vs baseline",
                 f"target ≥ {TARGET_RATIO:g}× and ≤ {TARGET_MATRIX_S:g} s"], rows)

    routes = routes_near_depots(incidents, depots[:args.routes], args.stops)
    rows = []
    for engine in engines:
        route_paths(routes[:1], engine=engine)  # graph cached, as in a planning run
        paths, seconds = timed(route_paths, routes, engine=engine)
        coordinates = sum(len(p.geometry.coords) for p in paths)
        rows.append([engine, f"{seconds:.2f}", f"{coordinates:,}",
                     f"{sum(p.distance_m for p in paths) / 1000:,.0f}",
                     sum(leg.source == "great_circle" for p in paths for leg in p.legs)])
    print(f"\nroute_paths, {args.routes} routes of {args.stops} stops + depot at both ends:")
    table_print(["engine", "seconds", "coordinates", "km", "fallback legs"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
