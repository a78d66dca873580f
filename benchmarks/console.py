"""Dispatcher console: first draw, viewport requests and live latency with many open incidents.

SEED_PLACEHOLDER
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import database_ensure, database_use, django_start, domain_tables_empty

DATABASE = "rasad_bench_console"

SEED_SQL = """
WITH cats AS (
    SELECT array_agg(id ORDER BY id) AS ids FROM incidents_category WHERE active
), pts AS (
    SELECT (ST_Dump(ST_GeneratePoints(boundary, %(n)s, %(seed)s))).geom AS geom
    FROM rasad_gis_servicearea WHERE id = %(area)s
), rows AS (
    SELECT p.geom,
           cats.ids[1 + floor(random() * array_length(cats.ids, 1))::int] AS category_id,
           random() AS r,
           now() - random() * interval '14 days' AS t
    FROM pts AS p, cats
)
INSERT INTO incidents_incident (category_id, area_id, district_id, department_id, location,
    line, status, priority, severity, report_count, merged_into_id, version,
    first_reported_at, last_reported_at, sla_due_at, verified_at, resolved_at, closed_at,
    created_at, updated_at)
SELECT c.id, %(area)s, NULL, c.department_id, rows.geom::geography, NULL,
       CASE WHEN r < 0.30 THEN 'new' WHEN r < 0.60 THEN 'verified' WHEN r < 0.80 THEN 'assigned'
            WHEN r < 0.85 THEN 'en_route' WHEN r < 0.90 THEN 'on_site' ELSE 'reopened' END,
       round((12 * c.severity + random() * 40)::numeric, 2)::float, c.severity, 1, NULL, 1,
       t, t, t + c.sla_hours * interval '1 hour', NULL, NULL, NULL, t, t
FROM rows JOIN incidents_category c ON c.id = rows.category_id
"""

DISTRICT_SQL = """
UPDATE incidents_incident i SET district_id = d.id
FROM rasad_gis_district d
WHERE i.district_id IS NULL AND ST_Intersects(d.boundary, i.location::geometry)
"""

REPORTS_SQL = """
INSERT INTO incidents_report (tracking_code, token, location, address, description, attributes,
    channel, language, status, joined_existing, reporter_name, reporter_email, reporter_phone,
    idempotency_key, request_fingerprint, client_ip, rejected_reason, created_at, updated_at,
    api_client_id, area_id, category_id, department_id, district_id, incident_id,
    submitted_by_id, user_id)
SELECT 'B' || lpad(i.id::text, 11, '0'), gen_random_uuid(), i.location, '',
       'Benchmark problem #' || i.id, '{}',
       (ARRAY['web', 'app', 'whatsapp', 'sms', 'phone', 'open311'])[1 + (i.id % 6)], 'en',
       i.status, false, '', '', '', NULL, '', NULL, '', i.first_reported_at,
       i.first_reported_at, NULL, i.area_id, i.category_id, i.department_id, i.district_id,
       i.id, NULL, NULL
FROM incidents_incident i
WHERE NOT EXISTS (SELECT 1 FROM incidents_report r WHERE r.incident_id = i.id)
"""


def incidents_seed(*, area, count: int, seed: int = 1) -> float:
    """`count` open incidents spread uniformly over the area, one report each, in SQL."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [((seed % 1000) / 1000.0)])
        cursor.execute(SEED_SQL, {"n": count, "seed": seed, "area": area.pk})
        cursor.execute(DISTRICT_SQL)
        cursor.execute(REPORTS_SQL)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE incidents_incident")
        cursor.execute("ANALYZE incidents_report")
    return time.perf_counter() - started


if __name__ == "__main__":
    database_use(DATABASE)
    database_ensure()
    area = django_start()
    domain_tables_empty()
    print(incidents_seed(area=area, count=int(sys.argv[1])))
