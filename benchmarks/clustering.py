"""Clustering at scale: the per-report attach step of intake and the DBSCAN re-cluster, with
10k, 100k and 1M reports in the table.

The table is filled by fixtures.generator.reports_generate (PostgreSQL COPY) in steps, with
VACUUM (ANALYZE) after each load. At each level, for random reports (half at uniform points of the
demo area, half near existing reports, where real reports land), it times:

  find    incident_find_to_join alone (the KNN query), outside any transaction;
  attach  inside real report_submit calls: the one database call that locks the cells,
          places the point, finds and joins or creates the incident and inserts the report;
  submit  the whole report_submit call (validation, lookups, inserts, commit).

Then, at the top level, incidents_recluster() (ST_ClusterDBSCAN per area and category,
then the merges). Prints tables; asserts nothing.

    .venv/bin/python benchmarks/clustering.py [--max 1000000] [--samples 500]
"""

import argparse
import contextlib
import importlib.util
import os
import random
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    CpuMeter,
    attributes_for,
    database_ensure,
    database_use,
    django_start,
    domain_tables_empty,
    machine_busy_s,
    machine_describe,
    percentile,
    points_in_area,
    table_print,
)

LEVELS = (10_000, 100_000, 1_000_000)
TARGET_RATIO = 2.0
TARGET_P95_MS = 5.0
TARGET_RECLUSTER_S = 60.0


def _generator_check() -> None:
    if importlib.util.find_spec("fixtures.generator") is None:
        raise SystemExit("fixtures/generator.py (reports_generate) is missing; the clustering "
                         "benchmark fills the table with it.")


@contextlib.contextmanager
def attach_timer(spans: list[float]) -> Iterator[None]:
    """Time report_submit's clustering step without changing it: the one database call
    (rasad_report_intake) that takes the cell locks, places the point, finds and joins or
    creates the incident and inserts the report. The module global report_submit looks up
    at call time is wrapped for the duration."""
    from incidents.services import intake

    run = intake._intake_run

    def run_timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return run(*args, **kwargs)
        finally:
            spans.append(time.perf_counter() - started)

    intake._intake_run = run_timed
    try:
        yield
    finally:
        intake._intake_run = run


def _analyze() -> None:
    from django.db import connection

    # VACUUM too: rows fresh from COPY have no hint bits or visibility map yet, so the first
    # queries to touch them write pages. A live table's rows were vacuumed long ago.
    with connection.cursor() as cursor:
        for table in ("incidents_incident", "incidents_report", "incidents_incidentupdate"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def _samples(area, categories: list, count: int, rng: random.Random) -> list[tuple]:
    """(category, lon, lat): half uniform over the area, half within two cluster radii of
    random existing reports of the category."""
    from django.db import connection

    from gis.geo import METRES_PER_DEGREE_LAT

    by_pk = {c.pk: c for c in categories}
    uniform = points_in_area(area, count - count // 2, rng)
    samples = [(rng.choice(categories), lon, lat) for lon, lat in uniform]
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM incidents_report")
        low, high = cursor.fetchone()
        ids = [rng.randint(low, high) for _ in range(count // 2)]
        cursor.execute("SELECT category_id, ST_X(location::geometry), ST_Y(location::geometry) "
                       "FROM incidents_report WHERE id = ANY(%s)", [ids])
        near = [row for row in cursor.fetchall() if row[0] in by_pk]
    prepared = area.boundary.prepared
    from django.contrib.gis.geos import Point

    for category_id, lon, lat in near:
        category = by_pk[category_id]
        reach = 2 * category.cluster_radius_m / METRES_PER_DEGREE_LAT
        for _attempt in range(20):
            x = lon + rng.uniform(-reach, reach) * 2  # ~ degrees of longitude at 60° N
            y = lat + rng.uniform(-reach, reach)
            if prepared.contains(Point(x, y, srid=4326)):
                samples.append((category, round(x, 6), round(y, 6)))
                break
    while len(samples) < count:  # ids that hit a gap: top up with uniform points
        (lon, lat), = points_in_area(area, 1, rng)
        samples.append((rng.choice(categories), lon, lat))
    rng.shuffle(samples)
    return samples


def _counts(categories: list) -> dict[str, int]:
    from django.db.models import Count, Q
    from django.utils import timezone

    from incidents.models import CLUSTERABLE_STATUSES, OPEN_STATUSES, Incident, Report

    now = timezone.now()
    in_window = Q()
    for category in categories:
        in_window |= Q(category=category,
                       last_reported_at__gte=now - timedelta(hours=category.cluster_window_hours))
    totals = Incident.objects.aggregate(
        incidents=Count("pk"), open=Count("pk", filter=Q(status__in=OPEN_STATUSES)),
        joinable=Count("pk", filter=Q(status__in=OPEN_STATUSES) & in_window),
        clusterable=Count("pk", filter=Q(status__in=CLUSTERABLE_STATUSES) & in_window))
    return {"reports": Report.objects.count(), **totals}


def _explain(category, lon: float, lat: float) -> str:
    from django.db import connection, transaction
    from django.utils import timezone

    from incidents.models import OPEN_STATUSES

    # The query inside rasad_incident_to_join (migration incidents 0007), with its setting.
    point = f"ST_SetSRID(ST_MakePoint({float(lon)}, {float(lat)}), 4326)::geography"
    since = timezone.now() - timedelta(hours=category.cluster_window_hours)
    statuses = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(
            f"EXPLAIN (ANALYZE, BUFFERS) SELECT i.id FROM incidents_incident i "
            f"WHERE i.category_id = %s AND i.status IN ({statuses}) "
            f"AND i.last_reported_at >= %s AND ST_DWithin(i.location, {point}, %s) "
            f"ORDER BY i.location <-> {point} LIMIT 1",
            [category.pk, since, float(category.cluster_radius_m)])
        return "\n".join(f"    {row[0]}" for row in cursor.fetchall())


def level_measure(*, area, categories: list, samples: int, rng: random.Random,
                  explain: bool) -> dict:
    from django.contrib.gis.geos import Point
    from django.db import connection
    from django.utils import timezone

    from incidents.services.intake import ReportInput, incident_find_to_join, report_submit

    points = _samples(area, categories, 2 * samples, rng)
    finds, attaches, submits = [], [], []
    attach_joined: list[bool] = []
    meter = CpuMeter(server_pgid=os.getpgid(0), database=connection.settings_dict["NAME"])
    meter.start()
    busy0, wall0 = machine_busy_s(), time.perf_counter()
    for category, lon, lat in points[:samples]:
        point = Point(lon, lat, srid=4326)
        started = time.perf_counter()
        incident_find_to_join(category=category, point=point, now=timezone.now())
        finds.append(time.perf_counter() - started)
    joined = 0
    with attach_timer(attaches):
        for category, lon, lat in points[samples:]:
            data = ReportInput(category_code=category.code, lon=lon, lat=lat,
                               description="Benchmark report",
                               attributes=attributes_for(category.code, rng))
            started = time.perf_counter()
            result = report_submit(data=data)
            submits.append(time.perf_counter() - started)
            joined_one = result.report.incident.report_count > 1
            joined += joined_one
            if len(attaches) > len(attach_joined):
                attach_joined.append(joined_one)
    meter.sample()
    others = (machine_busy_s() - busy0 - sum(meter.used().values())) / (time.perf_counter()
                                                                         - wall0)
    plan = _explain(*points[0]) if explain else ""
    return {"find": finds, "attach": attaches, "submit": submits,
            "attach_new": [t for t, j in zip(attaches, attach_joined, strict=False) if not j],
            "attach_join": [t for t, j in zip(attaches, attach_joined, strict=False) if j],
            "joined": joined / max(1, len(submits)), "plan": plan, "others": others}


def recluster_measure() -> dict:
    from gis.models import ServiceArea
    from incidents.models import Category
    from incidents.services import incidents_recluster
    from incidents.services.clustering import incident_groups_find

    started = time.perf_counter()
    groups = in_groups = largest = 0
    for area in ServiceArea.objects.all():
        for category in Category.objects.filter(active=True):
            found = incident_groups_find(category=category, area=area)
            groups += len(found)
            in_groups += sum(len(ids) for ids in found)
            largest = max([largest, *(len(ids) for ids in found)])
    scan_s = time.perf_counter() - started
    started = time.perf_counter()
    result = incidents_recluster()
    return {"scan_s": scan_s, "scan_groups": groups, "scan_incidents": in_groups,
            "scan_largest": largest,
            "total_s": time.perf_counter() - started, "groups": result.groups,
            "merged": result.merged}


def _ms(values: list[float], p: float) -> str:
    return f"{percentile(values, p) * 1000:.2f}" if values else "-"


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max", type=int, default=LEVELS[-1],
                        help="largest level (reports in the table); levels are 10k, 100k, 1M "
                             "up to it, plus --max itself")
    parser.add_argument("--samples", type=int, default=500, help="timed calls per level and kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=30, help="generator: spread over DAYS days")
    parser.add_argument("--batch", type=int, default=50_000, help="generator: reports per COPY batch")
    parser.add_argument("--keep-data", action="store_true",
                        help="grow the reports already in the benchmark database instead of "
                             "starting empty")
    parser.add_argument("--no-recluster", action="store_true")
    parser.add_argument("--explain", action="store_true",
                        help="print EXPLAIN ANALYZE of one find query per level")
    args = parser.parse_args(argv)
    levels = sorted({level for level in LEVELS if level <= args.max} | {args.max})

    _generator_check()
    database_use("rasad_bench_clustering")
    database_ensure()
    area = django_start()
    from fixtures.generator import reports_generate
    from incidents.models import Category, Report

    if not args.keep_data:
        domain_tables_empty()
    categories = list(Category.objects.filter(active=True).order_by("pk"))
    rng = random.Random(args.seed)
    print("\n== Clustering: attach a report at 10k / 100k / 1M reports, then re-cluster ==")
    print(f"machine: {machine_describe()}")
    print(f"area: {area.slug}; {len(categories)} active categories; generator: "
          f"fixtures.generator.reports_generate(days={args.days}, batch={args.batch}); "
          f"{args.samples} timed finds and {args.samples} timed report_submit calls per level",
          flush=True)

    rows = []
    for level in levels:
        missing = level - Report.objects.count()
        load_s = 0.0
        if missing > 0:
            started = time.perf_counter()
            reports_generate(area=area, count=missing, seed=args.seed + level, days=args.days,
                             batch=args.batch)
            _analyze()
            load_s = time.perf_counter() - started
        counts = _counts(categories)
        figures = level_measure(area=area, categories=categories, samples=args.samples, rng=rng,
                                explain=args.explain)
        rows.append({"level": level, "load_s": load_s, **counts, **figures})
        print(f"  level {level:,}: {counts['reports']:,} reports, {counts['incidents']:,} "
              f"incidents ({counts['open']:,} open) after loading {max(0, missing):,} in "
              f"{load_s:.0f} s; find p95 {_ms(figures['find'], 95)} ms, attach p95 "
              f"{_ms(figures['attach'], 95)} ms (creating an incident "
              f"{_ms(figures['attach_new'], 95)}, joining one {_ms(figures['attach_join'], 95)}),"
              f" submit p95 {_ms(figures['submit'], 95)} ms; "
              f"other processes used {figures['others']:.2f} of {os.cpu_count()} cores meanwhile",
              flush=True)
        if figures["plan"]:
            print(figures["plan"], flush=True)

    print()
    table_print(
        ["reports", "incidents", "open", "open in window", "find p50", "find p95",
         "attach p50", "attach p95", "submit p50", "submit p95", "joined"],
        [[f"{r['reports']:,}", f"{r['incidents']:,}", f"{r['open']:,}", f"{r['joinable']:,}",
          _ms(r["find"], 50), _ms(r["find"], 95), _ms(r["attach"], 50), _ms(r["attach"], 95),
          _ms(r["submit"], 50), _ms(r["submit"], 95), f"{100 * r['joined']:.0f}%"]
         for r in rows])
    print("(times in ms; 'open in window': open incidents a new report of their category may "
          "still join; 'joined': timed reports that joined an existing incident)")
    first, last = rows[0], rows[-1]
    if len(rows) > 1:
        for kind in ("find", "attach", "submit"):
            ratio = percentile(last[kind], 95) / percentile(first[kind], 95)
            print(f"{kind:6s} p95 at {last['reports']:,} / at {first['reports']:,}: "
                  f"{ratio:.2f}x", end="")
            if kind == "attach":
                p95 = percentile(last[kind], 95) * 1000
                print(f"   (targets: <= {TARGET_RATIO:.0f}x: "
                      f"{'met' if ratio <= TARGET_RATIO else 'MISSED'}; p95 < "
                      f"{TARGET_P95_MS:.0f} ms at 1M: "
                      f"{'met' if p95 < TARGET_P95_MS else 'MISSED'}"
                      f"{'' if last['level'] >= LEVELS[-1] else ' (not at 1M: --max is lower)'})",
                      end="")
            print()

    if not args.no_recluster:
        print(f"\nre-cluster with {last['reports']:,} reports, {last['clusterable']:,} "
              "clusterable incidents (new/verified/reopened, in their window):", flush=True)
        result = recluster_measure()
        print(f"  DBSCAN scan alone (incident_groups_find, every area x category): "
              f"{result['scan_s']:.1f} s, {result['scan_groups']:,} groups holding "
              f"{result['scan_incidents']:,} incidents (largest group: "
              f"{result['scan_largest']:,})")
        print(f"  incidents_recluster() (scan + merges): {result['total_s']:.1f} s, "
              f"{result['groups']:,} groups, {result['merged']:,} merges   (target < "
              f"{TARGET_RECLUSTER_S:.0f} s: "
              f"{'met' if result['total_s'] < TARGET_RECLUSTER_S else 'MISSED'})")
        rows.append({"recluster": result})
    return rows


if __name__ == "__main__":
    main()
