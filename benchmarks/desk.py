"""The call-taker's desk on the demo data: how long each action takes, one agent at a time,
through the real server (uvicorn ops.asgi, as `make run` serves it).

The demo city (fixtures.city) with its road network (the Helsinki extract `make run` uses,
when it is there: ops/bin/demo_roads.sh; else a street grid) and `--reports` generated
reports (the demo's 300, some with callers' numbers) are loaded into rasad_bench_desk. The
demo intake agent then, `--rounds` times:

- looks a caller up by phone number (GET /api/v1/desk/caller/, a caller with history),
- types a street (GET /api/v1/geocode/, names taken from the network, some misspelt),
- lists open incidents of a category near the place (GET /api/v1/incidents/nearby/),
- files a phone report (POST /api/v1/reports/, channel phone, with an SMS receipt queued),
- attaches a caller to an open incident (POST /api/v1/incidents/<id>/join/).

Prints p50/p95/max per action against the 300 ms target. Asserts nothing.

    .venv/bin/python benchmarks/desk.py [--rounds 50] [--reports 300]
"""

import argparse
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from benchmarks.common import (
    REPO,
    bench_env,
    database_ensure,
    database_use,
    django_start,
    domain_tables_empty,
    free_port,
    machine_describe,
    percentile,
    points_in_area,
    server_stop,
    table_print,
    uvicorn_start,
)

DATABASE = "rasad_bench_desk"
TARGET_MS = 300.0
AGENT = ("agent", "rasad-agent")



def _roads() -> str:
    """The demo's road network: the Helsinki extract, fetched once by the demo's script."""
    try:
        out = subprocess.run(["bash", "ops/bin/demo_roads.sh"], cwd=REPO, check=True,
                             capture_output=True, text=True, timeout=300)
        return out.stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return ""


def _prepare(reports: int, rng: random.Random) -> dict:
    """The demo city, users and crews, roads, and reports; what the rounds will ask for."""
    area = django_start()
    from fixtures.city import demo_crews_load, demo_users_load
    from fixtures.generator import reports_generate
    from gis.models import RoadNetwork, Street
    from gis.roads import roads_import
    from incidents.models import OPEN_STATUSES, Incident, Report

    demo_users_load()
    demo_crews_load()
    roads = _roads()
    latest = RoadNetwork.objects.order_by("-pk").first()
    if roads and (latest is None or Path(latest.source_file).name != Path(roads).name):
        print(f"importing the demo roads from {roads}")
        roads_import(path=REPO / roads)
    domain_tables_empty()
    reports_generate(area=area, count=reports, seed=11)
    streets = list(Street.objects.filter(point__intersects=area.boundary)
                   .values_list("name", flat=True))
    phones = list(Report.objects.exclude(reporter_phone="")
                  .values_list("reporter_phone", flat=True).distinct()[:200])
    incidents = list(Incident.objects.filter(status__in=OPEN_STATUSES)
                     .select_related("category")[:500])
    points = points_in_area(area, 200, rng)
    print(f"demo data: {Report.objects.count()} reports, {len(incidents)} open incidents, "
          f"{len(streets)} streets, {len(phones)} callers with a number")
    return {"streets": streets, "phones": phones, "incidents": incidents, "points": points}


def _misspell(name: str, rng: random.Random) -> str:
    if len(name) < 6 or rng.random() < 0.5:
        return name
    i = rng.randrange(1, len(name) - 1)
    return name[:i] + name[i + 1:]


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--reports", type=int, default=300)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    database_use(DATABASE)
    database_ensure()
    data = _prepare(args.reports, rng)
    port = free_port()
    server = uvicorn_start(app=["ops.asgi:application"], port=port, workers=1,
                           env={**bench_env(), "RASAD_DEMO": "true"})
    timings: dict[str, list[float]] = {k: [] for k in
                                       ("caller lookup", "street search", "nearby incidents",
                                        "file a phone report", "me too (join)")}
    errors: dict[str, int] = dict.fromkeys(timings, 0)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30, trust_env=False) as http:
            token = http.post("/api/v1/auth/token/",
                              data={"username": AGENT[0], "password": AGENT[1]}).json()["token"]
            http.headers["Authorization"] = f"Token {token}"

            def timed(name: str, method: str, path: str, **kwargs) -> httpx.Response:
                started = time.perf_counter()
                response = http.request(method, path, **kwargs)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code >= 400:
                    errors[name] += 1
                else:
                    timings[name].append(elapsed)
                return response

            for round_ in range(-3, args.rounds):  # three rounds of warm-up
                if round_ == 0:
                    for values in timings.values():
                        values.clear()
                phone = rng.choice(data["phones"]) if data["phones"] else "+358401234567"
                timed("caller lookup", "GET", "/api/v1/desk/caller/", params={"phone": phone})
                street = _misspell(rng.choice(data["streets"]), rng) if data["streets"] \
                    else "Mannerheimintie"
                timed("street search", "GET", "/api/v1/geocode/", params={"q": street})
                incident = rng.choice(data["incidents"])
                lon, lat = rng.choice(data["points"])
                timed("nearby incidents", "GET", "/api/v1/incidents/nearby/",
                      params={"category": incident.category.code, "lon": lon, "lat": lat})
                body = {"category": "street-light", "lon": lon, "lat": lat, "channel": "phone",
                        "phone": phone, "name": "Caller", "language": "ar",
                        "description": "A dark street light, called in"}
                timed("file a phone report", "POST", "/api/v1/reports/", json=body,
                      headers={"Idempotency-Key": uuid.uuid4().hex})
                timed("me too (join)", "POST", f"/api/v1/incidents/{incident.pk}/join/",
                      json={"channel": "phone", "phone": phone, "language": "fa"},
                      headers={"Idempotency-Key": uuid.uuid4().hex})
    finally:
        server_stop(server)

    print(f"\n== Desk actions on the demo data, one agent, {args.rounds} rounds ==")
    print(machine_describe())
    rows = []
    for name, values in timings.items():
        worst = percentile(values, 95) if values else float("nan")
        rows.append([name, len(values), errors[name], f"{percentile(values, 50):.1f}",
                     f"{worst:.1f}", f"{max(values):.1f}" if values else "-",
                     "met" if worst < TARGET_MS else "MISSED"])
    table_print(["action", "n", "errors", "p50 ms", "p95 ms", "max ms",
                 f"p95 < {TARGET_MS:.0f} ms"], rows)
    return timings


if __name__ == "__main__":
    main()
