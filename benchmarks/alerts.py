"""The fan-out of one notice: with `--subscribers` (100,000) active alert subscriptions in the
demo city (generated with PostgreSQL COPY into rasad_bench_alerts: a third of them to a
district, a third to the whole city, a third to a drawn area; languages ar/fa/en), it times

- the fan-out of a city-wide notice (incidents.services.alerts.notice_fan_out: one
  INSERT … SELECT into the outbox) until every outbox row is queued;
- the same fan-out run again (a retried task): rows written, time;
- two fan-outs of a second notice started at the same moment in two threads (two database
  connections), as a task delivered twice would run;
- the fan-out of a notice to one district;

and proves nothing is sent twice: outbox rows of each notice vs distinct subscribers (their
contacts) vs subscribers expected. Rows are only queued (no worker sends them); each run
removes the previous run's notices and their rows. Prints tables; asserts nothing.

Target: fan-out queued < 30 s for 100,000 subscribers, with nothing sent twice.

    .venv/bin/python benchmarks/alerts.py [--subscribers 100000]
"""

import argparse
import io
import random
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    database_ensure,
    database_use,
    django_start,
    machine_describe,
    table_print,
)

DATABASE = "rasad_bench_alerts"
TARGET_S = 30.0
BENCH_PREFIX = "bench-alerts-"


def subscribers_ensure(area, *, count: int, regenerate: bool) -> float:
    """COPY `count` contacts (email) and one active subscription each, unless there."""
    from django.db import connection
    from django.utils import timezone

    from incidents.models import AlertSubscription

    have = AlertSubscription.objects.filter(service_area=area, state="active").count()
    if have == count and not regenerate:
        print(f"data: {have} subscribers already there (kept)")
        return 0.0
    started = time.perf_counter()
    districts = list(area.districts.values_list("pk", flat=True))
    x0, y0, x1, y1 = area.boundary.extent
    rng = random.Random(10)
    now = timezone.now().isoformat()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE incidents_notification, incidents_alertsubscription_categories,"
                       " incidents_alertsubscription, incidents_notice_districts, "
                       "incidents_notice RESTART IDENTITY CASCADE")
        cursor.execute("DELETE FROM incidents_channelcontact WHERE external_id LIKE %s",
                       [f"{BENCH_PREFIX}%"])
        contacts = io.StringIO()
        for n in range(count):
            contacts.write(f"email\t{BENCH_PREFIX}{n}@example.org\t\t\t\t\tf\t\t\\N\t\\N\t"
                           f"\\N\t{now}\t{now}\n")
        contacts.seek(0)
        with cursor.copy(
                "COPY incidents_channelcontact (provider, external_id, display_name, phone, "
                "language, language_hint, blocked, blocked_reason, blocked_at, opted_out_at, "
                "last_inbound_at, created_at, updated_at) FROM STDIN "
                "WITH (FORMAT text)") as copy:
            copy.write(contacts.getvalue())
        cursor.execute("SELECT id FROM incidents_channelcontact WHERE external_id LIKE %s "
                       "ORDER BY id", [f"{BENCH_PREFIX}%"])
        contact_ids = [row[0] for row in cursor.fetchall()]
        rows = io.StringIO()
        languages = ("ar", "fa", "en")
        for n, contact_id in enumerate(contact_ids):
            scope = ("district", "city", "area")[n % 3]
            district, polygon = "\\N", "\\N"
            if scope == "district":
                district = str(districts[n % len(districts)])
            elif scope == "area":
                lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
                d = 0.002
                polygon = (f"SRID=4326;MULTIPOLYGON((({lon} {lat},{lon + d} {lat},"
                           f"{lon + d} {lat + d},{lon} {lat + d},{lon} {lat})))")
            rows.write(f"{contact_id}\t{area.pk}\t{scope}\t{district}\t{polygon}\timmediate\t"
                       f"{languages[n % 3]}\tactive\t{BENCH_PREFIX}{n}\t{now}\t\\N\t\\N\t{now}\t{now}\n")
        with cursor.copy(
                "COPY incidents_alertsubscription (contact_id, service_area_id, scope, "
                "district_id, area, frequency, language, state, token, confirmed_at, "
                "unsubscribed_at, digest_until, created_at, updated_at) FROM STDIN "
                "WITH (FORMAT text)") as copy:
            copy.write(rows.getvalue())
        cursor.execute("VACUUM (ANALYZE) incidents_alertsubscription")
        cursor.execute("VACUUM (ANALYZE) incidents_channelcontact")
    seconds = time.perf_counter() - started
    print(f"data: {count} contacts and subscriptions copied in {seconds:.1f} s")
    return seconds


def notice_make(by, area, *, districts=()):
    from django.utils import timezone

    from incidents.models import Notice

    now = timezone.now()
    notice = Notice.objects.create(
        service_area=area, kind="storm", starts_at=now, ends_at=now + timedelta(hours=6),
        created_by=by, title_en="Storm tonight", title_ar="عاصفة الليلة",
        title_fa="طوفان امشب", body_en="Stay off the roads after 20:00.",
        body_ar="ابقوا بعيداً عن الطرق بعد الساعة ٢٠:٠٠.",
        body_fa="پس از ساعت ۲۰ در جاده‌ها نباشید.")
    notice.districts.set(districts)
    return notice


def rows_of(notice) -> tuple[int, int]:
    from incidents.models import Notification

    rows = Notification.objects.filter(dedupe_key__startswith=f"notice:{notice.pk}:")
    return rows.count(), rows.values("contact_id").distinct().count()


def timed_fan_out(notice) -> tuple[int, float]:
    from django.db import connection

    from incidents.services.alerts import notice_fan_out

    started = time.perf_counter()
    written = notice_fan_out(notice_id=notice.pk, send=False)
    seconds = time.perf_counter() - started
    connection.close()  # each thread's own connection
    return written, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args(argv)
    database_use(DATABASE)
    database_ensure()
    area = django_start()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from incidents.models import AlertSubscription, Notice, Notification

    print(f"\n== Notice fan-out to {args.subscribers} subscribers ==")
    print(machine_describe())
    subscribers_ensure(area, count=args.subscribers, regenerate=args.regenerate)
    Notification.objects.filter(kind="notice").delete()
    Notice.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) incidents_notification")
    user, _created = get_user_model().objects.get_or_create(username="bench-alerts")
    expected = AlertSubscription.objects.filter(service_area=area, state="active").values(
        "contact_id").distinct().count()

    table = []
    city = notice_make(user, area)
    written, seconds = timed_fan_out(city)
    rows, distinct = rows_of(city)
    table.append(["city-wide notice", expected, written, f"{seconds:.2f} s", rows, distinct,
                  "met" if seconds < TARGET_S and rows == distinct == expected else "MISSED"])
    written, seconds = timed_fan_out(city)
    rows, distinct = rows_of(city)
    table.append(["  the same fan-out again", expected, written, f"{seconds:.2f} s", rows,
                  distinct, "met" if written == 0 and rows == distinct else "MISSED"])

    twice = notice_make(user, area)
    results: list[tuple[int, float]] = []
    threads = [threading.Thread(target=lambda: results.append(timed_fan_out(twice)))
               for _ in range(2)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    rows, distinct = rows_of(twice)
    table.append(["two fan-outs at once", expected,
                  " + ".join(str(w) for w, _s in sorted(results, reverse=True)),
                  f"{seconds:.2f} s", rows, distinct,
                  "met" if seconds < TARGET_S and rows == distinct == expected else "MISSED"])

    district = area.districts.order_by("code").first()
    one = notice_make(user, area, districts=[district])
    from django.db.models import Q

    in_district = (AlertSubscription.objects.filter(service_area=area, state="active")
                   .filter(Q(scope="city") | Q(district=district)
                           | Q(scope="area", area__intersects=district.boundary))
                   .values("contact_id").distinct().count())
    written, seconds = timed_fan_out(one)
    rows, distinct = rows_of(one)
    table.append([f"notice to {district.code}", in_district, written, f"{seconds:.2f} s", rows,
                  distinct, "met" if rows == distinct == in_district else "MISSED"])

    print(f"\nFan-out into the outbox (target < {TARGET_S:.0f} s, each subscriber once)")
    table_print(["notice", "subscribers", "rows written", "time", "outbox rows",
                 "distinct subscribers", "target"], table)


if __name__ == "__main__":
    main()
