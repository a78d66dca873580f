"""The figures at scale: with `--reports` (1,000,000) reports generated over `--days` (730,
24 months) in rasad_bench_stats, it times

- the full rebuild of the rollups (incidents.stats.rollup.stats_rebuild over every day);
- the incremental refresh of one day: a day's worth of new reports and status changes,
  then stats_refresh (which finds and recomputes the days they touched);
- the dashboard's API (GET /console/dashboard/api/…, through the real server, signed in as
  the demo manager) for a month and for a year: p50/p95;
- the monthly report's build (PDF, Arabic) and the open-data CSV of a year through the
  real server (rows/s, MB/s, and the server's peak memory).

The data is generated once (fixtures.generator, PostgreSQL COPY) and kept between runs while
the count matches, give or take the days of changes earlier runs added (`--regenerate` to
start again). Prints tables; asserts nothing.

Targets: dashboard p95 < 300 ms; a day's refresh < 5 s; monthly PDF < 30 s; the CSV export's
server memory flat (< 200 MB RSS) at any size.

    .venv/bin/python benchmarks/stats.py [--reports 1000000] [--days 730] [--samples 30]
"""

import argparse
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    database_ensure,
    database_use,
    django_start,
    free_port,
    machine_describe,
    percentile,
    table_print,
)

DATABASE = "rasad_bench_stats"
TARGET_DASHBOARD_P95_MS = 300.0
TARGET_REFRESH_S = 5.0
TARGET_PDF_S = 30.0
TARGET_CSV_RSS_MB = 200.0


def data_ensure(area, *, reports: int, days: int, regenerate: bool) -> float:
    """Generate the reports unless the database already holds that many; seconds taken."""
    from django.db import connection

    from fixtures.generator import reports_generate, surveys_generate
    from incidents.models import Report

    have = Report.objects.filter(area=area).count()
    # Each run adds a day of changes; the data is kept for a few runs of them.
    if reports <= have <= reports * 1.01 and not regenerate:
        print(f"data: {have} reports already there (kept)")
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE incidents_statsdaily, incidents_statsmonthly, "
                       "incidents_statsbacklog, "
                       "incidents_statswatermark, incidents_photo, incidents_report, "
                       "incidents_incidentupdate, incidents_incident RESTART IDENTITY CASCADE")
    started = time.perf_counter()
    result = reports_generate(area=area, count=reports, seed=24, days=days)
    surveys = surveys_generate(area=area)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) incidents_report")
        cursor.execute("VACUUM (ANALYZE) incidents_incident")
        cursor.execute("VACUUM (ANALYZE) incidents_incidentupdate")
    seconds = time.perf_counter() - started
    print(f"data: generated {result.reports} reports in {result.incidents} incidents over "
          f"{days} days ({surveys} survey answers) in {seconds:.0f} s")
    return seconds


def day_of_changes(area, *, reports: int, rng: random.Random) -> None:
    """What a day brings: `reports` new reports, and status changes on open incidents."""
    from fixtures.generator import reports_generate
    from incidents.models import OPEN_STATUSES, Incident
    from incidents.services.workflow import Move, incidents_transition_bulk

    reports_generate(area=area, count=reports, seed=rng.randrange(10**6), days=1)
    opened = list(Incident.objects.filter(area=area, status="new")
                  .order_by("-first_reported_at").values_list("pk", flat=True)[:300])
    incidents_transition_bulk(moves=[Move(incident_id=i, to="verified") for i in opened])
    assert set(OPEN_STATUSES)


def manager_cookies() -> dict[str, str]:
    """A signed-in session of the demo manager, made the way Django's login makes one."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )

    from fixtures.city import demo_users_load

    demo_users_load()
    user = get_user_model().objects.get(username="manager")
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return {settings.SESSION_COOKIE_NAME: store.session_key}


def group_rss_mb(pgid: int) -> float:
    """The largest resident memory of the processes in this process group (the server's
    worker), in MB."""
    largest = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            with open(f"/proc/{entry}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        largest = max(largest, int(line.split()[1]))
        except (OSError, IndexError, ValueError):
            continue
    return largest / 1024


def dashboard_time(base: str, cookies: dict, query: str, samples: int) -> list[float]:
    import httpx

    latencies = []
    with httpx.Client(base_url=base, cookies=cookies, timeout=120,
                      headers={"Accept-Language": "ar"}) as client:
        for _n in range(samples):
            started = time.perf_counter()
            response = client.get(f"/api/v1/dashboard/?{query}")
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"dashboard {query}: {response.status_code} {response.text}")
    return latencies


def dashboard_measure(area, *, samples: int) -> list[list]:
    """The dashboard's answer for a month, this year and the last 12 months: computed
    every time (its cache off: p50/p95), then as served (cache on): the first answer after
    the beat's refresh (which computes the views managers open first in advance) and the
    p95 of the answers after it."""
    from benchmarks.common import server_start, server_stop
    from incidents.stats.report import previous_month
    from incidents.stats.rollup import stats_refresh_all

    today = timezone_today(area)
    month = previous_month(today)
    year_from = (today - timedelta(days=365)).isoformat()
    queries = [("last month", f"month={month}"),
               ("last month, one department", f"month={month}&department=roads"),
               ("this year", f"year={today.year}"),
               ("last 12 months", f"from={year_from}&to={today.isoformat()}")]
    cookies = manager_cookies()
    figures: dict[str, list] = {label: [label] for label, _query in queries}
    for cache_s in ("0", "300"):
        port = free_port()
        server = server_start(port=port, workers=1, env={"RASAD_DASHBOARD_CACHE_S": cache_s})
        try:
            base = f"http://127.0.0.1:{port}"
            dashboard_time(base, cookies, "last=7", 2)  # the worker's first requests
            if cache_s != "0":
                stats_refresh_all()  # as the beat does: a refresh, then the first views
            for label, query in queries:
                if cache_s != "0":
                    figures[label].append(
                        f"{dashboard_time(base, cookies, query, 1)[0]:.0f}")
                times = dashboard_time(base, cookies, query, samples)
                figures[label] += [f"{percentile(times, 50):.0f}",
                                   f"{percentile(times, 95):.0f}"]
        finally:
            server_stop(server)
    rows = []
    for name, computed_p50, computed_p95, first, _cached_p50, cached_p95 in figures.values():
        served = max(float(first), float(cached_p95))
        rows.append([name, computed_p50, computed_p95,
                     "met" if float(computed_p95) < TARGET_DASHBOARD_P95_MS else "MISSED",
                     first, cached_p95,
                     "met" if served < TARGET_DASHBOARD_P95_MS else "MISSED"])
    return rows


def timezone_today(area):
    from incidents.stats.report.build import area_today

    return area_today(area)


def report_measure(area) -> list[list]:
    """The monthly report of the last full month, built in this process, per format."""
    from incidents.stats.report import monthly_report, previous_month

    month = previous_month(timezone_today(area))
    rows = []
    for language, fmt in (("ar", "pdf"), ("fa", "pdf"), ("en", "html"), ("en", "csv")):
        started = time.perf_counter()
        rendered = monthly_report(area=area, month=month, language=language, fmt=fmt)
        seconds = time.perf_counter() - started
        target = ("met" if seconds < TARGET_PDF_S else "MISSED") if fmt == "pdf" else "-"
        rows.append([f"{month} {language} {fmt}", f"{len(rendered.content) / 1024:.0f} KB",
                     f"{seconds:.2f} s", target])
    return rows


def csv_measure(area, *, days: int) -> list[list]:
    """The open-data CSV (and GeoJSON) of the last `days` days through the real server:
    rows, MB, seconds, and the server's peak memory sampled while it streams."""
    import threading

    import httpx

    from benchmarks.common import server_start, server_stop

    today = timezone_today(area)
    since = (today - timedelta(days=days)).isoformat()
    rows = []
    port = free_port()
    server = server_start(port=port, workers=1, env={})
    try:
        base = f"http://127.0.0.1:{port}"
        httpx.get(f"{base}/open-data/incidents.csv?opened_from={today}", timeout=60)
        for path in ("incidents.csv", "incidents.geojson"):
            idle_mb = group_rss_mb(server.pid)
            peak = [idle_mb]
            done = threading.Event()

            def sample(peak=peak, done=done):
                while not done.wait(0.1):
                    peak[0] = max(peak[0], group_rss_mb(server.pid))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            count = size = 0
            started = time.perf_counter()
            with httpx.stream("GET", f"{base}/open-data/{path}?opened_from={since}",
                              timeout=600) as response:
                if response.status_code != 200:
                    raise SystemExit(f"{path}: {response.status_code}")
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    count += chunk.count(b"\n") if path.endswith(".csv") else \
                        chunk.count(b'"type":"Feature"') + chunk.count(b'"type": "Feature"')
            seconds = time.perf_counter() - started
            done.set()
            sampler.join()
            if path.endswith(".csv"):
                count -= 1  # the header
            rows.append([f"{path}, {days} days", f"{count:,}", f"{size / 2**20:.0f} MB",
                         f"{seconds:.1f} s", f"{count / seconds:,.0f}",
                         f"{idle_mb:.0f} → {peak[0]:.0f} MB",
                         "met" if peak[0] < TARGET_CSV_RSS_MB else "MISSED"])
    finally:
        server_stop(server)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--skip-rebuild", action="store_true",
                        help="keep the rollups as they are (when the data was kept)")
    args = parser.parse_args(argv)
    database_use(DATABASE)
    database_ensure()
    area = django_start()
    from incidents.stats.rollup import stats_rebuild, stats_refresh

    print(f"\n== Figures at scale: {args.reports} reports over {args.days} days ==")
    print(machine_describe())
    data_ensure(area, reports=args.reports, days=args.days, regenerate=args.regenerate)
    rows = []
    if not args.skip_rebuild:
        result = stats_rebuild(area=area)
        rows.append(["full rebuild", f"{result.days} days", f"{result.seconds:.1f} s", "-"])
    rng = random.Random(7)
    day_of_changes(area, reports=max(1, args.reports // args.days), rng=rng)
    started = time.perf_counter()
    result = stats_refresh(area=area)
    seconds = time.perf_counter() - started
    rows.append(["refresh after a day of changes", f"{result.days} days", f"{seconds:.2f} s",
                 "met" if seconds < TARGET_REFRESH_S else "MISSED"])
    started = time.perf_counter()
    stats_refresh(area=area)
    quiet = time.perf_counter() - started
    rows.append(["refresh with nothing new", "-", f"{quiet:.2f} s", "-"])
    print("\nRollups")
    table_print(["step", "days recomputed", "time", f"target (< {TARGET_REFRESH_S:.0f} s)"],
                rows)

    print(f"\nDashboard API, signed in as the manager, Arabic ({args.samples} requests each; "
          f"target p95 < {TARGET_DASHBOARD_P95_MS:.0f} ms)")
    table_print(["period", "computed p50 ms", "p95 ms", "target", "served: first after a "
                 "refresh ms", "then p95 ms", "target"],
                dashboard_measure(area, samples=args.samples))

    print("\nMonthly report, the last full month")
    table_print(["report", "size", "build time", f"target (PDF < {TARGET_PDF_S:.0f} s)"],
                report_measure(area))

    print("\nOpen data of a year through the server (one worker; its memory sampled every "
          "0.1 s)")
    table_print(["download", "rows", "size", "time", "rows/s", "server RSS idle → peak",
                 f"target (< {TARGET_CSV_RSS_MB:.0f} MB)"],
                csv_measure(area, days=365))


if __name__ == "__main__":
    main()
