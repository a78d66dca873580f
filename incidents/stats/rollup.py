"""The figures' rollup tables, computed from the reports, incidents, their history and the
surveys, day by day in each area's own time zone.

Every figure of a day is an event of that day: a report received, an incident opened (its
first report), a first public response, a first verification, each resolution (with its
working-time SLA check), a reopening, a fix confirmed by the reporter, a rejection, a survey
answered; and the open incidents at the day's end (the backlog). Merged incidents are left
out: their reports count in the incident they were merged into.

A refresh recomputes whole days. The incremental refresh finds the days that can have
changed since the last one: the days of everything belonging to incidents changed since
(their reports and history), of reports filed and surveys answered since, and yesterday and
today; a rebuild recomputes a range. Both leave the tables exactly as a rebuild of all time
would (tested)."""

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from gis.models import ServiceArea
from incidents.models import OPEN_STATUSES, StatsBacklog, StatsDaily, StatsWatermark
from incidents.stats.calendar import business_days_ensure

logger = logging.getLogger(__name__)

# A refresh looks back this much before its watermark: a change committed while the last
# refresh ran, stamped just before its watermark, is not missed.
OVERLAP = timedelta(minutes=10)
REBUILD_CHUNK_DAYS = 31
_OPEN = "(" + ",".join(f"'{s}'" for s in OPEN_STATUSES) + ")"
# Status changes the public sees as an answer (the first one is the "first response").
_RESPONSES = "('verified','assigned','en_route','on_site','resolved','closed','rejected')"

# One statement for a range of days: every event as a row, grouped into cells.
DAILY_SQL = f"""
WITH params AS (
    SELECT %(area)s::bigint AS area, %(start)s::timestamptz AS t0, %(end)s::timestamptz AS t1,
           %(tz)s::text AS tz, %(calendar)s::bigint AS cal, %(day_seconds)s::int AS day_s
), incident_channel AS MATERIALIZED (
    -- An incident's channel is its first report's.
    SELECT DISTINCT ON (r.incident_id) r.incident_id, r.channel
    FROM incidents_report r, params p
    WHERE r.area_id = p.area AND r.incident_id IN (
        SELECT u.incident_id FROM incidents_incidentupdate u
        WHERE u.created_at >= p.t0 AND u.created_at < p.t1
        UNION SELECT i.id FROM incidents_incident i
        WHERE i.area_id = p.area AND i.first_reported_at >= p.t0 AND i.first_reported_at < p.t1)
    ORDER BY r.incident_id, r.created_at, r.id
), events AS (
    SELECT (r.created_at AT TIME ZONE p.tz)::date AS day, r.department_id, r.category_id,
           r.district_id, r.channel, 1 AS reports, 0 AS opened, NULL::int AS first_response,
           NULL::int AS verify, NULL::int AS resolve, 0 AS in_sla, 0 AS reopened,
           0 AS confirmed, 0 AS rejected, 0 AS answers, 0 AS rating, 0 AS rated,
           0 AS fixed_yes, 0 AS fixed_no
    FROM incidents_report r, params p
    WHERE r.area_id = p.area AND r.created_at >= p.t0 AND r.created_at < p.t1
  UNION ALL
    SELECT (i.first_reported_at AT TIME ZONE p.tz)::date, i.department_id, i.category_id,
           i.district_id, ch.channel, 0, 1, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0
    FROM incidents_incident i JOIN incident_channel ch ON ch.incident_id = i.id, params p
    WHERE i.area_id = p.area AND i.first_reported_at >= p.t0 AND i.first_reported_at < p.t1
      AND i.status <> 'merged'
  UNION ALL
    SELECT (u.created_at AT TIME ZONE p.tz)::date, i.department_id, i.category_id,
           i.district_id, ch.channel, 0, 0,
           CASE WHEN u.public AND u.to_status IN {_RESPONSES} AND NOT EXISTS (
                    SELECT 1 FROM incidents_incidentupdate e
                    WHERE e.incident_id = u.incident_id AND e.public
                      AND e.to_status IN {_RESPONSES}
                      AND (e.created_at, e.id) < (u.created_at, u.id))
                THEN extract(epoch FROM u.created_at - i.first_reported_at)::int END,
           CASE WHEN u.to_status = 'verified' AND NOT EXISTS (
                    SELECT 1 FROM incidents_incidentupdate e
                    WHERE e.incident_id = u.incident_id AND e.to_status = 'verified'
                      AND (e.created_at, e.id) < (u.created_at, u.id))
                THEN extract(epoch FROM u.created_at - i.first_reported_at)::int END,
           CASE WHEN u.to_status = 'resolved'
                THEN extract(epoch FROM u.created_at - i.first_reported_at)::int END,
           CASE WHEN u.to_status = 'resolved'
                 AND rasad_working_seconds_at(p.cal, p.tz, u.created_at)
                     - rasad_working_seconds_at(p.cal, p.tz, i.first_reported_at)
                     <= c.sla_hours * p.day_s / 24 THEN 1 ELSE 0 END,
           (u.to_status = 'reopened')::int,
           (u.to_status = 'closed' AND u.from_status = 'resolved' AND u.by_id IS NULL)::int,
           (u.to_status = 'rejected')::int, 0, 0, 0, 0, 0
    FROM incidents_incidentupdate u
         JOIN incidents_incident i ON i.id = u.incident_id
         JOIN incidents_category c ON c.id = i.category_id
         JOIN incident_channel ch ON ch.incident_id = i.id, params p
    WHERE i.area_id = p.area AND u.created_at >= p.t0 AND u.created_at < p.t1
      AND u.to_status IN {_RESPONSES[:-1]},'reopened') AND i.status <> 'merged'
  UNION ALL
    SELECT (s.answered_at AT TIME ZONE p.tz)::date, r.department_id, r.category_id,
           r.district_id, r.channel, 0, 0, NULL, NULL, NULL, 0, 0, 0, 0, 1,
           coalesce(s.rating, 0), (s.rating IS NOT NULL)::int, (s.fixed IS TRUE)::int,
           (s.fixed IS FALSE)::int
    FROM incidents_survey s JOIN incidents_report r ON r.id = s.report_id, params p
    WHERE r.area_id = p.area AND s.answered_at >= p.t0 AND s.answered_at < p.t1
)
INSERT INTO incidents_statsdaily (
    day, area_id, department_id, category_id, district_id, channel, reports,
    incidents_opened, first_response_s, verify_s, resolve_s, resolved_in_sla, reopened,
    confirmed_fixed, rejected, survey_answers, survey_rating_sum, survey_ratings,
    survey_fixed_yes, survey_fixed_no)
SELECT day, %(area)s, department_id, category_id, district_id, channel, sum(reports),
       sum(opened),
       coalesce(array_agg(first_response) FILTER (WHERE first_response IS NOT NULL), '{{}}'),
       coalesce(array_agg(verify) FILTER (WHERE verify IS NOT NULL), '{{}}'),
       coalesce(array_agg(resolve) FILTER (WHERE resolve IS NOT NULL), '{{}}'),
       sum(in_sla), sum(reopened), sum(confirmed), sum(rejected), sum(answers), sum(rating),
       sum(rated), sum(fixed_yes), sum(fixed_no)
FROM events
GROUP BY day, department_id, category_id, district_id, channel
"""

# The open incidents at the end of each day of a range: each incident's open stretches
# (from a change to an open status to the next change), laid over the days they cover.
BACKLOG_SQL = f"""
WITH params AS (
    SELECT %(area)s::bigint AS area, %(first_day)s::date AS d0, %(last_day)s::date AS d1,
           %(end)s::timestamptz AS t1, %(start)s::timestamptz AS t0, %(tz)s::text AS tz,
           %(calendar)s::bigint AS cal, %(day_seconds)s::int AS day_s
), candidates AS MATERIALIZED (
    SELECT i.id FROM incidents_incident i, params p
    WHERE i.area_id = p.area AND i.first_reported_at < p.t1
      AND (i.status IN {_OPEN} OR i.updated_at >= p.t0)
), stretches AS (
    SELECT u.incident_id, u.to_status, u.created_at AS t,
           lead(u.created_at) OVER (PARTITION BY u.incident_id
                                    ORDER BY u.created_at, u.id) AS t_next
    FROM incidents_incidentupdate u JOIN candidates c ON c.id = u.incident_id
    WHERE u.to_status <> ''
), ends AS (
    -- Each (incident, day) once: several open stretches may touch the same day.
    SELECT DISTINCT s.incident_id, d.day,
           ((d.day + 1)::timestamp AT TIME ZONE p.tz) AS day_end
    FROM stretches s, params p,
         LATERAL generate_series(greatest((s.t AT TIME ZONE p.tz)::date, p.d0),
                                 least((coalesce(s.t_next, p.t1) AT TIME ZONE p.tz)::date,
                                       p.d1), interval '1 day') AS g(d),
         LATERAL (SELECT g.d::date AS day) d
    WHERE s.to_status IN {_OPEN}
)
INSERT INTO incidents_statsbacklog (day, area_id, department_id, category_id, district_id,
                                    age_band, open_count, overdue_count)
SELECT e.day, p.area, i.department_id, i.category_id, i.district_id,
       CASE WHEN e.day_end - i.first_reported_at < interval '1 day' THEN '0-1d'
            WHEN e.day_end - i.first_reported_at < interval '3 days' THEN '1-3d'
            WHEN e.day_end - i.first_reported_at < interval '7 days' THEN '3-7d'
            WHEN e.day_end - i.first_reported_at < interval '30 days' THEN '7-30d'
            ELSE '30d+' END AS band,
       count(*),
       count(*) FILTER (WHERE rasad_working_seconds_at(p.cal, p.tz, e.day_end)
                              - rasad_working_seconds_at(p.cal, p.tz, i.first_reported_at)
                              > c.sla_hours * p.day_s / 24)
FROM ends e
     JOIN stretches s ON s.incident_id = e.incident_id AND s.to_status IN {_OPEN}
          AND s.t < e.day_end AND (s.t_next IS NULL OR s.t_next >= e.day_end)
     JOIN incidents_incident i ON i.id = e.incident_id
     JOIN incidents_category c ON c.id = i.category_id, params p
WHERE i.first_reported_at < e.day_end
GROUP BY e.day, p.area, i.department_id, i.category_id, i.district_id, band
"""

# Days in which anything changed since a moment: everything of the incidents changed since
# (their reports and their history), reports filed since, surveys answered since.
DIRTY_DAYS_SQL = """
WITH changed AS MATERIALIZED (
    SELECT id FROM incidents_incident WHERE area_id = %(area)s AND updated_at >= %(since)s
)
SELECT DISTINCT (t AT TIME ZONE %(tz)s)::date FROM (
    SELECT r.created_at AS t FROM incidents_report r
    WHERE r.area_id = %(area)s AND (r.created_at >= %(since)s
                                    OR r.incident_id IN (SELECT id FROM changed))
    UNION ALL
    SELECT u.created_at FROM incidents_incidentupdate u
    WHERE u.incident_id IN (SELECT id FROM changed)
    UNION ALL
    SELECT s.answered_at FROM incidents_survey s JOIN incidents_report r ON r.id = s.report_id
    WHERE r.area_id = %(area)s AND s.answered_at >= %(since)s
) changes
"""


@dataclass(frozen=True)
class RefreshResult:
    days: int
    seconds: float


def _ranges(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) ranges, each at most REBUILD_CHUNK_DAYS long."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and (day - ranges[-1][1]).days == 1 and \
                (day - ranges[-1][0]).days < REBUILD_CHUNK_DAYS:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def days_refresh(*, area: ServiceArea, days: list[date]) -> int:
    """Recompute the rollups of these days of the area; each range in one transaction."""
    calendar = business_days_ensure(area=area)
    zone = ZoneInfo(calendar.timezone)
    day_seconds = int((datetime.combine(date.min, calendar.day_ends)
                       - datetime.combine(date.min, calendar.day_starts)).total_seconds())
    for first, last in _ranges(days):
        start = datetime.combine(first, time(0), zone)
        end = datetime.combine(last + timedelta(days=1), time(0), zone)
        params = {"area": area.pk, "start": start, "end": end, "tz": calendar.timezone,
                  "calendar": calendar.pk, "day_seconds": day_seconds, "first_day": first,
                  "last_day": last}
        with transaction.atomic(), connection.cursor() as cursor:
            StatsDaily.objects.filter(area=area, day__gte=first, day__lte=last).delete()
            StatsBacklog.objects.filter(area=area, day__gte=first, day__lte=last).delete()
            cursor.execute(DAILY_SQL, params)
            cursor.execute(BACKLOG_SQL, params)
    return len(set(days))


def _today(area_zone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(area_zone)).date()


def stats_refresh(*, area: ServiceArea, now: datetime | None = None) -> RefreshResult:
    """Bring the area's rollups up to date: the days that can have changed since the last
    refresh (all days, the first time). Safe to run at any moment, and twice."""
    started = timezone.now()
    now = now or started
    calendar = business_days_ensure(area=area)
    mark = StatsWatermark.objects.filter(area=area).first()
    if mark is None:
        return stats_rebuild(area=area, now=now)
    today = _today(calendar.timezone, now)
    with connection.cursor() as cursor:
        cursor.execute(DIRTY_DAYS_SQL, {"area": area.pk, "since": mark.refreshed_to - OVERLAP,
                                        "tz": calendar.timezone})
        days = {row[0] for row in cursor.fetchall() if row[0] is not None}
    days |= {today, today - timedelta(days=1)}
    count = days_refresh(area=area, days=sorted(d for d in days if d <= today))
    StatsWatermark.objects.filter(area=area).update(refreshed_to=started,
                                                    refreshed_at=timezone.now())
    return RefreshResult(days=count, seconds=(timezone.now() - started).total_seconds())


def stats_rebuild(*, area: ServiceArea, since: date | None = None,
                  now: datetime | None = None) -> RefreshResult:
    """Recompute every day from `since` (default: the area's first report) to today."""
    started = timezone.now()
    now = now or started
    calendar = business_days_ensure(area=area)
    today = _today(calendar.timezone, now)
    if since is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT min(created_at) FROM incidents_report WHERE area_id = %s",
                           [area.pk])
            first = cursor.fetchone()[0]
        since = _today(calendar.timezone, first) if first else today
    days = [since + timedelta(days=n) for n in range((today - since).days + 1)]
    count = days_refresh(area=area, days=days)
    StatsWatermark.objects.update_or_create(
        area=area, defaults={"refreshed_to": started, "refreshed_at": timezone.now()})
    return RefreshResult(days=count, seconds=(timezone.now() - started).total_seconds())


def stats_refresh_all() -> dict[str, RefreshResult]:
    return {area.slug: stats_refresh(area=area) for area in ServiceArea.objects.order_by("pk")}
