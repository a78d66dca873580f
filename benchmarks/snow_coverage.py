"""Snow mode: plow routes covering a district's main roads, on a real road network.

In its own database (rasad_bench_snow, created and migrated if missing), it:

  1. imports --pbf with gis.roads.roads_import (skipped with --skip-import when a network
     is loaded already);
  2. makes a service area around the network and a district of --bbox (default: Andorra la
     Vella and Escaldes-Engordany, 1.50..1.56 E × 42.49..42.534 N, 24 km²), --plows
     crews with the skill "plow" on shift, all from one depot (--depot) unless --spread-depots,
     and --incidents snow reports near the district's roads (through report_submit);
  3. times crews.services.snow.snow_plan_create for --road-classes, twice (cold: graph
     loaded from the database; warm: cached);
  4. prints the required km per class, then per route the km plowed, deadheaded, the
     duration and the order of classes, and checks every route: each required pass done,
     one-way roads only forwards, consecutive steps joined, depot vertex at both ends.

Prints tables; asserts nothing.

    .venv/bin/python benchmarks/snow_coverage.py [--pbf /work/shared/osm/andorra.osm.pbf]
        [--bbox 1.50,42.49,1.56,42.534] [--plows 4] [--incidents 30] [--skip-import]
        [--road-classes motorway,trunk,primary,secondary,tertiary]
"""

import argparse
import math
import os
import random
import sys
import time
from collections import Counter
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    bench_env,
    database_ensure,
    database_use,
    road_network_ensure,
    table_print,
)

DEFAULT_PBF = "/work/shared/osm/andorra.osm.pbf"
DEFAULT_BBOX = "1.50,42.49,1.56,42.534"
# Andorra la Vella, by the Valira (the Comú's works depot is in this part of town).
DEFAULT_DEPOT = "1.5135,42.5035"
AREA_SLUG = "bench-snow"
DISTRICT_CODE = "vella-escaldes"
INCIDENT_OFF_ROAD_M = 10.0


def django_setup() -> None:
    os.environ.update(bench_env())
    import django

    django.setup()


def floats(text: str, count: int) -> list[float]:
    values = [float(v) for v in text.split(",")]
    if len(values) != count:
        raise SystemExit(f"expected {count} comma-separated numbers, not {text!r}")
    return values


def area_km2(bbox: list[float]) -> float:
    x0, y0, x1, y1 = bbox
    return ((x1 - x0) * 111.32 * math.cos(math.radians((y0 + y1) / 2)) * (y1 - y0) * 111.32)


def setup_city(bbox: list[float], plows: int, depot: list[float], spread: bool):
    """Area, district, plows and their shifts, from scratch (plans and crews emptied)."""
    from django.contrib.gis.geos import MultiPolygon, Point, Polygon
    from django.db import connection
    from django.utils import timezone

    from crews.models import Crew, Shift
    from fixtures.city import demo_city_load
    from gis.models import District, ServiceArea
    from incidents.models import Department

    demo_city_load()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE incidents_photo, incidents_report, incidents_incidentupdate, "
                       "incidents_incident, crews_routestop, crews_routeplan, crews_shift, "
                       "crews_crew RESTART IDENTITY CASCADE")
    x0, y0, x1, y1 = _network_extent()
    area, _created = ServiceArea.objects.update_or_create(
        slug=AREA_SLUG, defaults={"name_en": "Snow benchmark",
                                  "boundary": MultiPolygon(Polygon.from_bbox((x0, y0, x1, y1)),
                                                           srid=4326)})
    district, _created = District.objects.update_or_create(
        area=area, code=DISTRICT_CODE,
        defaults={"name_en": "Andorra la Vella – Escaldes",
                  "boundary": MultiPolygon(Polygon.from_bbox(tuple(bbox)), srid=4326)})
    roads = Department.objects.get(code="roads")
    now = timezone.now()
    crews = []
    for i in range(plows):
        lon, lat = depot
        if spread:  # depots on a small circle around the given one
            angle = 2 * math.pi * i / plows
            lon += 0.01 * math.cos(angle)
            lat += 0.007 * math.sin(angle)
        crew = Crew.objects.create(code=f"plow-{i + 1}", name=f"Plow {i + 1}", department=roads,
                                   skills=["plow", "salt-spreader"], capacity=100,
                                   depot=Point(lon, lat, srid=4326))
        Shift.objects.create(crew=crew, starts_at=now - timedelta(hours=1),
                             ends_at=now + timedelta(hours=10))
        crews.append(crew)
    return district, crews


def _network_extent() -> tuple[float, float, float, float]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                       "FROM (SELECT ST_Extent(geom) AS e FROM rasad_gis_roadedge) AS x")
        return cursor.fetchone()


def snow_reports(district, road_classes: list[str], count: int, rng: random.Random) -> int:
    """`count` snow reports up to INCIDENT_OFF_ROAD_M off the district's required roads."""
    import shapely

    from crews.services.snow import snow_required_edges
    from gis.models import RoadEdge
    from incidents.services import ReportInput, report_submit

    edges = snow_required_edges(district=district, road_classes=road_classes)
    geoms = dict(RoadEdge.objects.filter(pk__in=[e.edge_id for e in edges])
                 .values_list("pk", "geom"))
    lines = {pk: shapely.from_wkb(bytes(geom.wkb)) for pk, geom in geoms.items()}
    chosen = rng.choices(edges, weights=[e.length_m for e in edges], k=count)
    made = set()
    for edge in chosen:
        spot = shapely.line_interpolate_point(lines[edge.edge_id], rng.random(), normalized=True)
        angle, metres = rng.uniform(0, 2 * math.pi), rng.uniform(0, INCIDENT_OFF_ROAD_M)
        lat = spot.y + metres * math.sin(angle) / 111_320
        lon = spot.x + metres * math.cos(angle) / (111_320 * math.cos(math.radians(spot.y)))
        result = report_submit(data=ReportInput(category_code="snow-ice", lon=lon, lat=lat,
                                                description="snow bench"))
        made.add(result.report.incident_id)
    return len(made)


def route_check(route, edges: dict) -> list[str]:
    """What is wrong with a route (empty when it is sound); `edges`: RequiredEdge by id."""
    problems = []
    steps = route.steps
    if steps and steps[0].from_vertex != route.depot_vertex:
        problems.append("does not start at the depot vertex")
    if steps and steps[-1].to_vertex != route.depot_vertex:
        problems.append("does not end at the depot vertex")
    gaps = sum(a.to_vertex != b.from_vertex for a, b in pairwise(steps))
    if gaps:
        problems.append(f"{gaps} gaps between steps")
    wrong_way = sum(1 for s in steps if s.forward is False and s.edge_id in edges
                    and edges[s.edge_id].passes == ((True,),))
    if wrong_way:
        problems.append(f"{wrong_way} one-way edges driven backwards")
    ranks = [edges[s.edge_id].rank for s in steps if s.served]
    if ranks != sorted(ranks):
        problems.append("ranks served out of order")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pbf", default=DEFAULT_PBF)
    parser.add_argument("--bbox", default=DEFAULT_BBOX,
                        help="district: minlon,minlat,maxlon,maxlat")
    parser.add_argument("--depot", default=DEFAULT_DEPOT, help="lon,lat")
    parser.add_argument("--spread-depots", action="store_true",
                        help="one depot per plow, on a circle of ~800 m around --depot")
    parser.add_argument("--plows", type=int, default=4)
    parser.add_argument("--incidents", type=int, default=30)
    parser.add_argument("--road-classes", default="motorway,trunk,primary,secondary,tertiary")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-import", action="store_true",
                        help="use the network already in the benchmark database")
    args = parser.parse_args()
    bbox = floats(args.bbox, 4)
    depot = floats(args.depot, 2)
    road_classes = [c.strip() for c in args.road_classes.split(",") if c.strip()]

    database_use("rasad_bench_snow")
    database_ensure()
    django_setup()
    from crews.services.snow import snow_plan_create, snow_required_edges

    road_network_ensure(args.pbf, skip_import=args.skip_import)

    district, crews = setup_city(bbox, args.plows, depot, args.spread_depots)
    edges = snow_required_edges(district=district, road_classes=road_classes)
    incidents = snow_reports(district, road_classes, args.incidents, random.Random(args.seed))
    print(f"\ndistrict {bbox} ({area_km2(bbox):.1f} km²), classes {', '.join(road_classes)}: "
          f"{len(edges)} edges, {sum(len(e.passes) for e in edges)} passes; "
          f"{args.plows} plows from {'spread depots' if args.spread_depots else depot}; "
          f"{incidents} open snow incidents near those roads")
    by_class: dict[str, list[float]] = {}
    for edge in edges:
        row = by_class.setdefault(edge.road_class, [0, 0.0, 0.0])
        row[0] += 1
        row[1] += edge.length_m
        row[2] += edge.required_m
    table_print(["class", "edges", "road km", "required km (× passes)"],
                [[c, n, f"{m / 1000:.1f}", f"{r / 1000:.1f}"]
                 for c, (n, m, r) in sorted(by_class.items(), key=lambda kv: -kv[1][2])]
                + [["total", len(edges), f"{sum(e.length_m for e in edges) / 1000:.1f}",
                    f"{sum(e.required_m for e in edges) / 1000:.1f}"]])

    runs = []
    for method, label in (("best", "cold"), ("best", "warm"), ("euler", "warm"),
                          ("greedy", "warm")):
        # Each run re-plans: it supersedes the previous run's plans and takes over their stops.
        started = time.perf_counter()
        result = snow_plan_create(district=district, road_classes=road_classes,
                                  crew_ids=[c.pk for c in crews], method=method)
        runs.append((method, label, time.perf_counter() - started, result))
    print("\nsnow_plan_create, seconds (graph cold: loaded from the database; warm: cached):")
    phases = [k for k in runs[0][3].seconds if k != "total"]
    table_print(["method", "graph", "split", "total s", *phases,
                 "plowed km", "deadhead km", "makespan h", "sum of hours"],
                [[method, label, result.split, f"{seconds:.2f}",
                  *[f"{v:.2f}" for k, v in result.seconds.items() if k != "total"],
                  f"{sum(r.covered_m for r in result.routes) / 1000:.1f}",
                  f"{sum(r.deadhead_m for r in result.routes) / 1000:.1f}",
                  f"{max(r.plan.duration_s for r in result.routes) / 3600:.2f}",
                  f"{sum(r.plan.duration_s for r in result.routes) / 3600:.2f}"]
                 for method, label, seconds, result in runs])

    report("best", runs[1][3], edges, incidents)
    return 0


def report(method: str, result, edges, incidents: int) -> None:
    by_id = {e.edge_id: e for e in edges}
    unreachable = {u.edge_id for u in result.unreachable}
    done = Counter((s.edge_id, s.forward) for r in result.routes for s in r.steps if s.served)
    missing = sum(1 for e in edges if e.edge_id not in unreachable for directions in e.passes
                  if not any(done[(e.edge_id, d)] for d in directions))
    rows, problems = [], []
    for route in result.routes:
        plan = route.plan
        issues = route_check(route, by_id)
        problems += [f"{route.crew.code}: {issue}" for issue in issues]
        rows.append([route.crew.code, f"{route.required_m / 1000:.1f}",
                     f"{route.covered_m / 1000:.1f}", f"{route.deadhead_m / 1000:.1f}",
                     f"{plan.duration_s / 3600:.2f}",
                     f"{route.deadhead_m / max(route.covered_m, 1):.2f}",
                     len(route.steps), len(route.stops),
                     " > ".join(f"{c.road_class} {c.ends_s / 3600:.1f}h"
                                for c in route.classes)])
    print(f"\n{method}: routes ({len(result.routes)} plows), depot vertex → passes → depot "
          "vertex:")
    table_print(["crew", "required km", "plowed km", "deadhead km", "hours", "deadhead/plowed",
                 "steps", "stops", "classes (each done after)"], rows)
    required = [r.required_m for r in result.routes]
    hours = [r.plan.duration_s / 3600 for r in result.routes]
    plowed = sum(r.covered_m for r in result.routes)
    deadhead = sum(r.deadhead_m for r in result.routes)
    print(f"\ntotal: {plowed / 1000:.1f} km plowed, {deadhead / 1000:.1f} km deadhead "
          f"({deadhead / max(plowed, 1):.2f} per km plowed); balance: required km max/min "
          f"{max(required) / max(min(required), 1):.2f}, hours max/min "
          f"{max(hours) / max(min(hours), 1e-9):.2f}; makespan {max(hours):.2f} h")
    print(f"unreachable edges: {len(result.unreachable)} "
          f"({sum(u.length_m for u in result.unreachable) / 1000:.2f} km); "
          f"passes not done: {missing}; snow incidents attached as stops: "
          f"{sum(len(r.stops) for r in result.routes)} of {incidents}")
    print("checks:", "; ".join(problems) if problems else "ok (continuous, depot to depot, "
          "one-way roads forwards, ranks in order)")


if __name__ == "__main__":
    sys.exit(main())
