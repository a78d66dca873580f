"""Intake throughput: POST /api/v1/reports/ against a bare one-row-INSERT DRF endpoint.

Both endpoints are served by the same real server (uvicorn ops.asgi:application, as `make run`
serves it, here with --workers 2) in the same run, hit by concurrent keep-alive clients
(asyncio streams, benchmarks.common.HttpConnection) with the same JSON bodies: a random point inside the demo area, a random
demo category, valid attributes. Timed phases alternate between the endpoints so drift on
the machine hits both alike. Prints a table; asserts nothing.

    .venv/bin/python benchmarks/intake.py [--requests 2000] [--concurrency 16] [--workers 2]
"""

import argparse
import asyncio
import json
import os
import random
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    SERVERS,
    CpuMeter,
    Phase,
    attributes_for,
    bench_env,
    database_ensure,
    database_use,
    django_start,
    domain_tables_empty,
    free_port,
    load_rotating,
    machine_describe,
    percentile,
    points_in_area,
    server_start,
    server_stop,
    table_print,
)

RASAD_PATH = "/api/v1/reports/"
BARE_PATH = "/bench/bare/"
TARGET_RATIO = 0.5
TARGET_P95_MS = 100.0


def _bodies(area, categories: list[str], count: int, rng: random.Random) -> list[bytes]:
    bodies = []
    for lon, lat in points_in_area(area, count, rng):
        code = rng.choice(categories)
        bodies.append(json.dumps({"category": code, "lon": lon, "lat": lat,
                                  "description": f"Benchmark report {rng.randrange(10**9)}",
                                  "attributes": attributes_for(code, rng), "channel": "web",
                                  "language": "en"}).encode())
    return bodies


async def load(*, port: int, meter: CpuMeter, bodies: list[bytes], warmup: int, requests: int,
               rounds: int, concurrency: int, idempotency: bool,
               rate: float | None = None) -> dict[str, Phase]:
    """Each body once per endpoint, with a new Idempotency-Key when `idempotency`."""
    results, _warm = await load_rotating(
        port=port, meter=meter, paths={"rasad": RASAD_PATH, "bare": BARE_PATH},
        items=[(body, None) for body in bodies], warmup=warmup, requests=requests,
        rounds=rounds, concurrency=concurrency, rate=rate,
        headers_for=(lambda _h: {"Idempotency-Key": uuid.uuid4().hex}) if idempotency else None)
    return results


def main(argv: list[str] | None = None) -> dict[str, Phase]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per endpoint")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests per endpoint")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop instead: send this many requests/s to each endpoint "
                             "(latency counted from when each request was due)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--rounds", type=int, default=4,
                        help="timed phases per endpoint, alternating between the two")
    parser.add_argument("--idempotency-keys", action="store_true",
                        help="send a fresh Idempotency-Key with every Rasad report")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep the reports and incidents already in the benchmark database")
    parser.add_argument("--server", choices=sorted(SERVERS), default="asgi",
                        help="asgi: uvicorn ops.asgi:application (as `make run`); wsgi: uvicorn "
                             "--interface wsgi ops.wsgi:application (threads reused)")
    parser.add_argument("--conn-max-age", type=int, default=None,
                        help="the server's DB_CONN_MAX_AGE; default the app's own 60 (HTTP "
                             "runs on a fixed pool of threads, each keeping its connection)")
    parser.add_argument("--db-pool", action="store_true",
                        help="serve with Django's psycopg connection pool (needs psycopg_pool)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.conn_max_age is None:
        args.conn_max_age = 60
    if args.db_pool:
        args.conn_max_age = 0

    database_use("rasad_bench_intake")
    database_ensure()
    area = django_start()
    from django.db import connection

    from benchmarks.bare import PLAIN_TABLE_SQL
    from incidents.models import Category, Incident, Report

    if not args.keep_data:
        domain_tables_empty()
    with connection.cursor() as cursor:
        cursor.execute(PLAIN_TABLE_SQL)
        cursor.execute("TRUNCATE bench_plain RESTART IDENTITY")
    reports_before = Report.objects.count()
    rng = random.Random(args.seed)
    categories = sorted(Category.objects.filter(active=True).values_list("code", flat=True))
    bodies = _bodies(area, categories, args.warmup + args.requests, rng)
    machine = machine_describe()
    connection.close()

    print(f"\n== Intake: POST {RASAD_PATH} vs bare insert {BARE_PATH} ==")
    print(f"machine: {machine}")
    port = free_port()
    server_env = {"DB_CONN_MAX_AGE": str(args.conn_max_age),
                  "BENCH_DB_POOL": "true" if args.db_pool else "false"}
    server = server_start(port=port, workers=args.workers, env=server_env, server=args.server)
    try:
        meter = CpuMeter(server_pgid=server.pid, database=connection.settings_dict["NAME"])
        results = asyncio.run(load(port=port, meter=meter, bodies=bodies, warmup=args.warmup,
                                   requests=args.requests, rounds=args.rounds,
                                   concurrency=args.concurrency,
                                   idempotency=args.idempotency_keys, rate=args.rate))
    finally:
        server_stop(server)

    rasad, bare = results["rasad"], results["bare"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_plain")
        (plain_rows,) = cursor.fetchone()
    reports_after = Report.objects.count()
    shape = (f"open loop at {args.rate:g} requests/s per endpoint (asyncio streams, one "
             f"process)" if args.rate else f"{args.concurrency} concurrent keep-alive clients "
             f"(asyncio streams, one process)")
    print(f"load: {shape}, {args.warmup} warm-up + {args.requests} timed requests per endpoint in "
          f"{args.rounds} alternating phases; uvicorn --workers {args.workers} "
          f"({args.server.upper()}); "
          f"DB connections: {'psycopg pool' if args.db_pool else f'CONN_MAX_AGE={args.conn_max_age}'}; "
          f"DEBUG off; submit throttle {bench_env()['RASAD_SUBMIT_RATE']}; Idempotency-Key "
          f"{'sent' if args.idempotency_keys else 'not sent'}")
    print(f"rows written: bench_plain {plain_rows}, reports {reports_after - reports_before} "
          f"(incidents in table now {Incident.objects.count()})\n")
    rows = []
    for name, path in (("rasad", RASAD_PATH), ("bare", BARE_PATH)):
        phase = results[name]
        rows.append([f"{name} {path}", phase.requests, phase.errors,
                     f"{phase.per_second:.1f}",
                     f"{percentile(phase.latencies, 50) * 1000:.1f}",
                     f"{percentile(phase.latencies, 95) * 1000:.1f}",
                     f"{percentile(phase.latencies, 99) * 1000:.1f}"])
    table_print(["endpoint", "requests", "errors", "reports/s", "p50 ms", "p95 ms", "p99 ms"],
                rows)
    lower_bound = not args.db_pool and args.conn_max_age == 0
    print("\nCPU per request (ms, summed over cores):")
    cpu_rows = []
    for name in ("rasad", "bare"):
        phase = results[name]
        done = max(1, len(phase.latencies))
        parts = [phase.cpu_s.get(k, 0.0) for k in ("server", "postgres", "redis")]
        parts.append(phase.client_cpu_s)
        cells = [f"{1000 * part / done:.1f}" for part in parts]
        if lower_bound:
            cells[1] = f">={cells[1]}"
        cpu_rows.append([name, *cells, f"{'>=' if lower_bound else ''}"
                                       f"{1000 * sum(parts) / done:.1f}"])
    table_print(["endpoint", "uvicorn", "postgres", "redis", "client", "total"], cpu_rows)
    cores = os.cpu_count() or 1
    ours = sum(sum(p.cpu_s.values()) + p.client_cpu_s for p in results.values())
    wall = sum(p.wall_s for p in results.values())
    others = (sum(p.machine_busy_s for p in results.values()) - ours) / wall
    print(f"other processes on the machine used {others:.2f} of {cores} cores during the "
          f"timed phases (load average now {os.getloadavg()[0]:.1f})"
          + ("; PostgreSQL is a lower bound: sampling misses most of the backends opened "
             "per request, and their CPU counts as other processes here" if lower_bound else ""))
    ratio = rasad.per_second / bare.per_second if bare.per_second else float("nan")
    p95 = percentile(rasad.latencies, 95) * 1000
    if args.rate:
        print("\nrasad/bare throughput: n/a in open loop (both get the same offered rate; "
              "run without --rate for the ratio)")
    else:
        print(f"\nrasad/bare throughput: {ratio:.2f}   (target >= {TARGET_RATIO}: "
              f"{'met' if ratio >= TARGET_RATIO else 'MISSED'})")
    print(f"rasad p95: {p95:.1f} ms   (target < {TARGET_P95_MS:.0f} ms: "
          f"{'met' if p95 < TARGET_P95_MS else 'MISSED'})")
    for name, phase in results.items():
        if phase.errors:
            print(f"first {name} error: {phase.first_error}")
    return results


if __name__ == "__main__":
    main()
