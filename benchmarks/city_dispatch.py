"""City dispatch: plan 40 crews over 1,000 verified incidents on Andorra's roads, end to end,
against the naive "one pgr_dijkstra call per pair" for the travel matrix alone.

In its own database (rasad_bench_dispatch, created and migrated if missing), it:

  1. imports --pbf with gis.roads.roads_import (skipped with --skip-import when a network
     is already there);
  2. empties crews, plans, reports and incidents; loads the categories
     (fixtures.city.catalogue_load), an area "andorra" covering the road network's bbox with
     one district, and a dispatcher;
  3. creates --crews crews (mixed skills covering every category, capacity --capacity, a
     --shift-hours shift (8) that started 10 minutes ago, a depot up to 30 m off a random road) and
     --incidents verified incidents up to 30 m off random roads (stretches weighted by
     length), each with one report, 40% of them with an e-mail address so that assigning
     writes the notifications it would in production;
  4. times crews.services.dispatch.dispatch_plan over every crew and the area, committed,
     with --budget-s: first the plan (this process has no road graph cached yet), then a
     re-plan of the same crews (graph cached; the pending stops are planned again);
  5. times --baseline-pairs random pairs with one pgr_dijkstra call each
     (benchmarks.road_matrix.baseline_per_pair) and extrapolates to the dispatch matrix's
     n × (n - 1) pairs.

Tasks queued on commit (notifications, urgent re-plans) go to a queue of this run's own
in Redis db 15, deleted at the end: nothing is left for any worker. Prints tables; asserts
nothing.

    .venv/bin/python benchmarks/city_dispatch.py [--pbf /work/shared/osm/andorra.osm.pbf]
        [--crews 40] [--incidents 1000] [--budget-s 5] [--baseline-pairs 300]
        [--skip-import] [--profile]
"""

import argparse
import os
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    database_ensure,
    database_use,
    machine_busy_s,
    machine_describe,
    table_print,
)
from benchmarks.road_matrix import (
    DEFAULT_PBF,
    baseline_per_pair,
    django_setup,
    points_near_roads,
    timed,
)

TARGET_TOTAL_S = 10.0
TARGET_RATIO = 5.0
E_MAIL_SHARE = 0.4
# Skill sets of the crews, in turn: together they cover every category's required skills.
CREW_SKILLS = [
    ["asphalt", "plow"],
    ["plow", "salt-spreader"],
    ["electrician"],
    ["plumbing", "sewage-truck"],
    ["waste-truck", "chainsaw", "animal-control"],
    ["asphalt"],
    ["electrician", "chainsaw"],
    ["plumbing"],
]
CREW_TABLES = ("crews_routestop", "crews_routeplan", "crews_dispatchpin", "crews_crewaction",
               "crews_crewposition", "crews_shift", "crews_crew_members", "crews_crew")
DOMAIN_TABLES = ("incidents_notification", "incidents_photo", "incidents_report",
                 "incidents_incidentupdate", "incidents_incident")


def tables_empty() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(CREW_TABLES + DOMAIN_TABLES)} "
                       "RESTART IDENTITY CASCADE")


def area_for_network():
    """The area "andorra": the road network's bbox (grown by 0.01°), one district."""
    from django.contrib.gis.db.models import Extent

    from fixtures.factories import box
    from gis.models import District, RoadEdge, ServiceArea

    x0, y0, x1, y1 = RoadEdge.objects.aggregate(e=Extent("geom"))["e"]
    boundary = box(x0 - 0.01, y0 - 0.01, x1 + 0.01, y1 + 0.01)
    area, _ = ServiceArea.objects.update_or_create(
        slug="andorra", defaults={"name_en": "Andorra", "name_ar": "أندورا",
                                  "name_fa": "آندورا", "boundary": boundary})
    District.objects.update_or_create(area=area, code="all",
                                      defaults={"name_en": "All", "boundary": boundary})
    return area


def dispatcher_ensure():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from ops.roles import Role, roles_ensure

    roles_ensure()
    user, _ = get_user_model().objects.get_or_create(username="bench-dispatcher",
                                                     defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name=Role.DISPATCHER))
    return user


def crews_create(count: int, capacity: int, shift_hours: float, rng: random.Random) -> list:
    from datetime import timedelta

    from django.utils import timezone

    from crews.models import Crew, Shift

    now = timezone.now()
    depots = points_near_roads(count, rng)
    crews = Crew.objects.bulk_create([
        Crew(code=f"crew-{i + 1:02d}", name=f"Crew {i + 1}",
             skills=CREW_SKILLS[i % len(CREW_SKILLS)], capacity=capacity, depot=depot)
        for i, depot in enumerate(depots)])
    Shift.objects.bulk_create([
        Shift(crew=crew, starts_at=now - timedelta(minutes=10),
              ends_at=now + timedelta(hours=shift_hours)) for crew in crews])
    return crews


def incidents_create(area, count: int, rng: random.Random) -> int:
    """Verified incidents near roads, one report each; bulk, not through intake."""
    from datetime import timedelta

    from django.utils import timezone

    from incidents.codes import tracking_code_new
    from incidents.models import Category, Incident, Report, Status
    from incidents.priority import priority_score

    now = timezone.now()
    district = area.districts.get()
    categories = list(Category.objects.exclude(required_skills=[]).select_related("department")
                      .order_by("code"))
    incidents, reports = [], []
    for location in points_near_roads(count, rng):
        category = rng.choice(categories)
        first = now - timedelta(hours=rng.uniform(0.5, 96))
        size = rng.choice((1, 1, 1, 2, 3, 5))
        incident = Incident(
            category=category, area=area, district=district, department=category.department,
            location=location, status=Status.VERIFIED, severity=category.severity,
            report_count=size, first_reported_at=first, last_reported_at=first,
            sla_due_at=first + timedelta(hours=category.sla_hours), verified_at=now,
            priority=priority_score(severity=category.severity, report_count=size,
                                    first_reported_at=first, sla_hours=category.sla_hours,
                                    now=now))
        incidents.append(incident)
        reports.append(Report(
            tracking_code=tracking_code_new(), category=category, incident=incident, area=area,
            district=district, department=category.department, location=location,
            status=Status.VERIFIED, created_at=first,
            reporter_email=(f"r{len(reports)}@example.org" if rng.random() < E_MAIL_SHARE
                            else "")))
    Incident.objects.bulk_create(incidents, batch_size=1000)
    Report.objects.bulk_create(reports, batch_size=1000)  # the incidents have their pks now
    return len(incidents)


def dispatch_timed(crews, area, by, budget_s: float, profile: bool):
    """dispatch_plan end to end, its commit and on-commit work included; also the CPU
    seconds this process and the whole machine (every core) used meanwhile."""
    from crews.services.dispatch import dispatch_plan

    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
    busy, own = machine_busy_s(), sum(os.times()[:2])
    started = time.perf_counter()
    result = dispatch_plan(crew_ids=[c.pk for c in crews], area=area, by=by, budget_s=budget_s,
                           reason="benchmark")
    wall = time.perf_counter() - started
    cpu = (sum(os.times()[:2]) - own, machine_busy_s() - busy)
    if profile:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    return result, wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pbf", default=DEFAULT_PBF)
    parser.add_argument("--crews", type=int, default=40)
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--capacity", type=int, default=25, help="work units per crew")
    parser.add_argument("--shift-hours", type=float, default=8.0)
    parser.add_argument("--budget-s", type=float, default=5.0, help="the optimiser's budget")
    parser.add_argument("--baseline-pairs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-import", action="store_true",
                        help="use the network already in the benchmark database")
    parser.add_argument("--profile", action="store_true", help="cProfile the two runs")
    args = parser.parse_args()

    database_use("rasad_bench_dispatch")
    database_ensure()
    django_setup()
    from fixtures.city import catalogue_load
    from gis.models import RoadNetwork
    from gis.roads import roads_import
    from gis.routing import routing_box, snap
    from ops.celery import app as celery_app

    print(machine_describe())
    rng = random.Random(args.seed)
    if not (args.skip_import and RoadNetwork.objects.exists()):
        result, seconds = timed(roads_import, path=args.pbf)
        print(f"\nimport {args.pbf}: {result.ways} ways, {result.edges} edges, "
              f"{result.vertices} vertices ({result.snappable_vertices} snappable) "
              f"in {seconds:.2f} s")

    tables_empty()
    catalogue_load()
    area = area_for_network()
    dispatcher = dispatcher_ensure()
    crews, seconds = timed(crews_create, args.crews, args.capacity, args.shift_hours, rng)
    created, seconds_incidents = timed(incidents_create, area, args.incidents, rng)
    print(f"\n{len(crews)} crews ({args.shift_hours:g}-hour shifts, capacity {args.capacity}), "
          f"{created} verified incidents in {seconds + seconds_incidents:.2f} s")

    queue = f"bench-dispatch-{uuid.uuid4().hex[:12]}"
    celery_app.conf.task_default_queue = queue
    try:
        runs = [("plan", *dispatch_timed(crews, area, dispatcher, args.budget_s,
                                         args.profile))]
        runs.append(("re-plan", *dispatch_timed(crews, area, dispatcher, args.budget_s,
                                                args.profile)))
    finally:
        with celery_app.connection_for_write() as connection:
            connection.default_channel.queue_delete(queue)

    print(f"\ndispatch_plan, {len(crews)} crews × {created} incidents, budget {args.budget_s:g} s "
          "(seconds; total is the call, commit included):")
    rows = []
    for name, result, wall, _cpu in runs:
        s = result.seconds
        stops = sum(len(p.stops.all()) for p in result.plans)
        rows.append([name, f"{s['build']:.2f}", f"{s['matrix']:.2f}", f"{s['solve']:.2f}",
                     f"{s['geometry']:.2f}", f"{s['store']:.2f}", f"{s['transitions']:.2f}",
                     f"{wall:.2f}", stops, len(result.unassigned), result.engine,
                     result.matrix_source, "yes" if wall < TARGET_TOTAL_S else "no"])
    table_print(["run", "build", "matrix", "solve", "geometry", "store", "transitions",
                 "total", "assigned", "unassigned", "engine", "matrix source",
                 f"target < {TARGET_TOTAL_S:g} s"], rows)
    print(f"\nCPU seconds meanwhile ({os.cpu_count()} cores): this process / the whole machine "
          "(PostgreSQL and other work included): "
          + ", ".join(f"{name} {cpu[0]:.1f} / {cpu[1]:.1f}" for name, _r, _w, cpu in runs))
    reasons = Counter(u.reason for u in runs[-1][1].unassigned)
    print("\nunassigned after the re-plan, by reason:")
    table_print(["reason", "incidents"], [[r, n] for r, n in reasons.most_common()])

    from incidents.models import Incident

    points = [c.depot for c in crews] + list(Incident.objects.filter(area=area)
                                             .values_list("location", flat=True))
    snaps = snap(points)
    vertex_ids = sorted({s.vertex_id for s in snaps if s.snapped})
    box = routing_box([s.vertex for s in snaps if s.snapped])
    size = 2 * len(crews) + created  # the problem's points: start and end per crew, jobs
    per_pair = baseline_per_pair(vertex_ids, box, args.baseline_pairs, rng)
    baseline_s = per_pair * size * (size - 1)
    print(f"\nbaseline: one pgr_dijkstra call per pair, {per_pair * 1000:.1f} ms each "
          f"({args.baseline_pairs} random pairs) × {size * (size - 1):,} pairs = "
          f"{baseline_s:,.0f} s ({baseline_s / 3600:.1f} h)")
    rows = [[name, f"{result.seconds['matrix']:.2f}",
             f"{baseline_s / result.seconds['matrix']:,.0f}×", f"{wall:.2f}",
             f"{baseline_s / wall:,.0f}×",
             "yes" if baseline_s / wall >= TARGET_RATIO else "no"]
            for name, result, wall, _cpu in runs]
    table_print(["run", "matrix s", "matrix vs baseline", "dispatch s",
                 "dispatch vs baseline matrix", f"target ≥ {TARGET_RATIO:g}×"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
