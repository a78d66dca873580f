"""Map matching of a day of plow GPS traces on the Andorra road network.

In its own database (rasad_bench_plow, created and migrated if missing), it:

  1. imports --pbf with gis.roads.roads_import (skipped with --skip-import when a network
     is loaded already);
  2. drives --plows plows for --hours: each chains --legs fastest paths (scipy Dijkstra on
     gis.routing.RoadGraph) between random vertices of the network and drives them round and
     round at its own speed (6-10 m/s), stopping 0-3 min at each leg's end; a ping every
     --every-s seconds with Gaussian noise (σ = --noise-m per axis), and one GPS gap of
     10 minutes per plow. The truth is the set of edges each plow drove;
  3. stores the pings as crews' CrewPosition rows (not timed);
  4. times gis.matching.match on each plow's whole day in memory, then the service the beat
     task runs (crews.services.plowmap.plow_passes_match: read the pings, match, store the
     passes) over the same pings from the database;
  5. prints the matching time, pings/s, the share of pings matched, and against the truth
     the share of driven edges found (recall) and of edges found that were driven
     (precision), by length.

Prints tables; asserts nothing.

    .venv/bin/python benchmarks/plow_matching.py [--pbf /work/shared/osm/andorra.osm.pbf]
        [--plows 40] [--hours 24] [--every-s 5] [--noise-m 5] [--legs 30] [--skip-import]
"""

import argparse
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
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
GAP_MINUTES = 10


def django_setup() -> None:
    os.environ.update(bench_env())
    import django

    django.setup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pbf", default=DEFAULT_PBF)
    parser.add_argument("--plows", type=int, default=40)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--every-s", type=float, default=5.0)
    parser.add_argument("--noise-m", type=float, default=5.0)
    parser.add_argument("--legs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-import", action="store_true",
                        help="use the network already in the benchmark database")
    args = parser.parse_args()

    database_use("rasad_bench_plow")
    database_ensure()
    django_setup()
    from django.contrib.gis.geos import Point
    from django.db import connection

    from crews.models import Crew
    from crews.services.plowmap import plow_passes_match
    from fixtures.city import demo_city_load
    from fixtures.plow_traces import edges_load, routes_make, trace_make
    from gis.matching import Ping, match
    from gis.models import RoadPass

    road_network_ensure(args.pbf, skip_import=args.skip_import)
    demo_city_load()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE rasad_gis_roadpass, rasad_gis_tracewatermark, "
                       "crews_crewposition, crews_routestop, crews_routeplan, crews_shift, "
                       "crews_crew RESTART IDENTITY CASCADE")

    rng = random.Random(args.seed)
    started = time.perf_counter()
    edges = edges_load()
    routes = routes_make(args.plows, args.legs, rng)
    day = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=args.hours + 1)
    traces = [trace_make(route, edges, start=day, hours=args.hours, every_s=args.every_s,
                         noise_m=args.noise_m, rng=rng, gap_minutes=GAP_MINUTES)
              for route in routes]
    total = sum(len(p) for p, _driven in traces)
    print(f"\n{args.plows} plows × {args.hours:g} h, a ping every {args.every_s:g} s "
          f"(noise σ {args.noise_m:g} m, one {GAP_MINUTES}-minute gap each): {total} pings, "
          f"generated in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    received = datetime.now(UTC) - timedelta(minutes=10)
    for number, (pings, _driven) in enumerate(traces, start=1):
        crew = Crew.objects.create(code=f"plow-{number}", name=f"Plow {number}",
                                   skills=["plow"], depot=Point(*pings[0][:2], srid=4326))
        # COPY: a day of 40 plows is 690,000 rows (bulk_create took four minutes).
        with connection.cursor() as cursor, cursor.cursor.copy(
                "COPY crews_crewposition (crew_id, location, recorded_at, received_at, "
                "accuracy_m) FROM STDIN") as copy:
            for lon, lat, at in pings:
                copy.write_row((crew.pk, f"SRID=4326;POINT({lon} {lat})", at, received,
                                args.noise_m * 1.5))
    print(f"stored as crew positions in {time.perf_counter() - started:.1f} s")

    # 1. In memory.
    rows, found_by_plow = [], []
    started = time.perf_counter()
    results = []
    for pings, _driven in traces:
        results.append(match([Ping(lon=lon, lat=lat, at=at, accuracy_m=args.noise_m * 1.5)
                              for lon, lat, at in pings]))
    in_memory_s = time.perf_counter() - started
    for result in results:
        found_by_plow.append({t.edge_id for t in result.traversals})

    # 2. The service, from the database.
    started = time.perf_counter()
    run = plow_passes_match(now=datetime.now(UTC) + timedelta(minutes=5))
    service_s = time.perf_counter() - started
    stored = RoadPass.objects.count()

    def length(ids):
        return sum(edges[e][0] for e in ids)

    kept = sum(r.kept for r in results)
    matched = sum(r.matched for r in results)
    recall = sum(length(found & driven) for found, (_p, driven)
                 in zip(found_by_plow, traces, strict=True)) / max(
        sum(length(driven) for _p, driven in traces), 1)
    precision = sum(length(found & driven) for found, (_p, driven)
                    in zip(found_by_plow, traces, strict=True)) / max(
        sum(length(found) for found in found_by_plow), 1)
    rows.append(["match() in memory", f"{in_memory_s:.1f}", f"{total / in_memory_s:,.0f}",
                 f"{matched / max(kept, 1):.1%}", f"{recall:.1%}", f"{precision:.1%}",
                 sum(len(r.traversals) for r in results)])
    rows.append(["plow_passes_match (db)", f"{service_s:.1f}", f"{run.pings / service_s:,.0f}",
                 f"{run.matched / max(run.kept, 1):.1%}", "", "", stored])
    print(f"\nmatching a day of {args.plows} plows ({total} pings; kept after thinning "
          f"{kept}; target < 60 s):")
    table_print(["run", "seconds", "pings/s", "matched", "recall (km)", "precision (km)",
                 "passes"], rows)
    print("\nmatched: share of the pings kept (after thinning a parked plow's jitter) matched "
          "to an edge; recall: driven km found; precision: found km that were driven.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
