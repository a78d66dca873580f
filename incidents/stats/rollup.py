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
from django.dispatch import Signal
from django.utils import timezone

from gis.models import ServiceArea
from incidents.models import (
    OPEN_STATUSES,
    StatsBacklog,
    StatsDaily,
    StatsMonthly,
    StatsWatermark,
)
from incidents.stats.calendar import business_days_ensure

logger = logging.getLogger(__name__)

# A refresh looks back this much before its watermark: a change committed while the last
# refresh ran, stamped just before its watermark, is not missed.
OVERLAP = timedelta(minutes=10)
REBUILD_CHUNK_DAYS = 31
# Sent by stats_refresh_all after each area's refresh, with `area`.
rollups_refreshed = Signal()
_OPEN = "(" + ",".join(f"'{s}'" for s in OPEN_STATUSES) + ")"
# Status changes the public sees as an answer (the first one is the "first response").
_RESPONSES = ("('verified','assigned','en_route','on_site','resolved','closed','rejected',"
              "'referred')")

# One statement for a range of days: every event as a row, grouped into cells.
DAILY_SQL = f"""
WITH touched AS MATERIALIZED (
    SELECT u.incident_id AS id FROM incidents_incidentupdate u
    WHERE u.created_at >= %(start)s AND u.created_at < %(end)s
    UNION
    SELECT i.id FROM incidents_incident i
    WHERE i.area_id = %(area)s AND i.first_reported_at >= %(start)s
      AND i.first_reported_at < %(end)s
), facts AS MATERIALIZED (
    -- What the events of the incidents touched need: their cell, first report, SLA, and
    -- channel (the first report's). Looked up one by one: a range touches few of them.
    SELECT i.id, i.department_id, i.category_id, i.district_id, i.first_reported_at,
           c.sla_hours,
           (SELECT r.channel FROM incidents_report r WHERE r.incident_id = i.id
            ORDER BY r.created_at, r.id LIMIT 1) AS channel
    FROM touched t
         -- OFFSET 0 keeps the lookups one by one (a join would read every incident).
         CROSS JOIN LATERAL (SELECT * FROM incidents_incident i0 WHERE i0.id = t.id
                             OFFSET 0) i
         JOIN incidents_category c ON c.id = i.category_id
    WHERE i.area_id = %(area)s AND i.status <> 'merged'
), events AS (
    SELECT (r.created_at AT TIME ZONE %(tz)s)::date AS day, r.department_id, r.category_id,
           r.district_id, r.channel, 1 AS reports, 0 AS opened, NULL::int AS first_response,
           NULL::int AS verify, NULL::int AS resolve, 0 AS in_sla, 0 AS reopened,
           0 AS confirmed, 0 AS rejected, 0 AS answers, 0 AS rating, 0 AS rated,
           0 AS fixed_yes, 0 AS fixed_no
    FROM incidents_report r
    WHERE r.area_id = %(area)s AND r.created_at >= %(start)s AND r.created_at < %(end)s
  UNION ALL
    SELECT (f.first_reported_at AT TIME ZONE %(tz)s)::date, f.department_id, f.category_id,
           f.district_id, f.channel, 0, 1, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0
    FROM facts f
    WHERE f.first_reported_at >= %(start)s AND f.first_reported_at < %(end)s
      AND f.channel IS NOT NULL
  UNION ALL
    SELECT (u.created_at AT TIME ZONE %(tz)s)::date, f.department_id, f.category_id,
           f.district_id, f.channel, 0, 0,
           CASE WHEN u.public AND u.to_status IN {_RESPONSES} AND NOT EXISTS (
                    SELECT 1 FROM incidents_incidentupdate e
                    WHERE e.incident_id = u.incident_id AND e.public
                      AND e.to_status IN {_RESPONSES}
                      AND (e.created_at, e.id) < (u.created_at, u.id))
                THEN extract(epoch FROM u.created_at - f.first_reported_at)::int END,
           CASE WHEN u.to_status = 'verified' AND NOT EXISTS (
                    SELECT 1 FROM incidents_incidentupdate e
                    WHERE e.incident_id = u.incident_id AND e.to_status = 'verified'
                      AND (e.created_at, e.id) < (u.created_at, u.id))
                THEN extract(epoch FROM u.created_at - f.first_reported_at)::int END,
           CASE WHEN u.to_status = 'resolved'
                THEN extract(epoch FROM u.created_at - f.first_reported_at)::int END,
           CASE WHEN u.to_status = 'resolved'
                 AND rasad_working_seconds_at(%(calendar)s, %(tz)s, u.created_at)
                     - rasad_working_seconds_at(%(calendar)s, %(tz)s, f.first_reported_at)
                     <= f.sla_hours * %(day_seconds)s / 24 THEN 1 ELSE 0 END,
           (u.to_status = 'reopened')::int,
           (u.to_status = 'closed' AND u.from_status = 'resolved' AND u.by_id IS NULL)::int,
           (u.to_status = 'rejected')::int, 0, 0, 0, 0, 0
    FROM facts f CROSS JOIN LATERAL (
        SELECT * FROM incidents_incidentupdate u0
        WHERE u0.incident_id = f.id AND u0.created_at >= %(start)s
          AND u0.created_at < %(end)s
          AND u0.to_status IN {_RESPONSES[:-1]},'reopened') OFFSET 0) u
    WHERE f.channel IS NOT NULL
  UNION ALL
    SELECT (s.answered_at AT TIME ZONE %(tz)s)::date, r.department_id, r.category_id,
           r.district_id, r.channel, 0, 0, NULL, NULL, NULL, 0, 0, 0, 0, 1,
           coalesce(s.rating, 0), (s.rating IS NOT NULL)::int, (s.fixed IS TRUE)::int,
           (s.fixed IS FALSE)::int
    FROM incidents_survey s JOIN incidents_report r ON r.id = s.report_id
    WHERE r.area_id = %(area)s AND s.answered_at >= %(start)s AND s.answered_at < %(end)s
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
# (from a change to an open status to the next change) laid over the days whose end they
# cover. What an incident's age band and SLA state are on a day is worked out once per
# incident, as the first day of each (no working-time arithmetic per day):
#   - day d ends at the start of d + 1, inside the stretch (t, t_next] when
#     local(t) <= d < local(t_next);
#   - the age at day d's end is under X when d < local(first report + X - 1 µs);
#   - overdue when the working seconds up to day d's end (seconds_after) pass the report's
#     working moment plus the SLA: from the first working day whose seconds_after do.
BACKLOG_SQL = f"""
WITH candidates AS MATERIALIZED (
    SELECT i.id, i.department_id, i.category_id, i.district_id, i.first_reported_at AS f,
           c.sla_hours * %(day_seconds)s / 24 AS sla_s
    FROM incidents_incident i JOIN incidents_category c ON c.id = i.category_id
    WHERE i.area_id = %(area)s AND i.first_reported_at < %(end)s
      AND (i.status IN {_OPEN} OR i.updated_at >= %(start)s)
), marks AS MATERIALIZED (
    SELECT k.*,
           ((k.f + interval '24 hours' - interval '1 microsecond')
            AT TIME ZONE %(tz)s)::date AS b1,
           ((k.f + interval '24 hours' * 3 - interval '1 microsecond')
            AT TIME ZONE %(tz)s)::date AS b3,
           ((k.f + interval '24 hours' * 7 - interval '1 microsecond')
            AT TIME ZONE %(tz)s)::date AS b7,
           ((k.f + interval '24 hours' * 30 - interval '1 microsecond')
            AT TIME ZONE %(tz)s)::date AS b30,
           (SELECT o.date FROM incidents_businessday o
            WHERE o.calendar_id = %(calendar)s AND o.opens_at IS NOT NULL
              AND o.seconds_after > coalesce(w.seconds, 0) + k.sla_s
            ORDER BY o.seconds_after LIMIT 1) AS overdue_from
    FROM candidates k
         LEFT JOIN LATERAL (
             SELECT d.seconds_before + CASE WHEN d.opens_at IS NULL THEN 0 ELSE
                    greatest(0, least(extract(epoch FROM k.f - d.opens_at),
                                      extract(epoch FROM d.closes_at - d.opens_at)))::bigint
                    END AS seconds
             FROM incidents_businessday d
             WHERE d.calendar_id = %(calendar)s
               AND d.date = (k.f AT TIME ZONE %(tz)s)::date) w ON true
), stretches AS (
    SELECT s.incident_id,
           greatest((s.t AT TIME ZONE %(tz)s)::date, %(first_day)s::date) AS d0,
           least(coalesce((s.t_next AT TIME ZONE %(tz)s)::date - 1, %(last_day)s::date),
                 %(last_day)s::date) AS d1
    FROM (SELECT u.incident_id, u.to_status, u.created_at AS t,
                 lead(u.created_at) OVER (PARTITION BY u.incident_id
                                          ORDER BY u.created_at, u.id) AS t_next
          FROM incidents_incidentupdate u
          WHERE u.incident_id IN (SELECT id FROM candidates) AND u.to_status <> '') s
    WHERE s.to_status IN {_OPEN} AND s.t < %(end)s
      AND (s.t_next IS NULL OR s.t_next >= %(start)s)
)
INSERT INTO incidents_statsbacklog (day, area_id, department_id, category_id, district_id,
                                    age_band, open_count, overdue_count)
SELECT g.day, %(area)s, m.department_id, m.category_id, m.district_id,
       CASE WHEN g.day < m.b1 THEN '0-1d' WHEN g.day < m.b3 THEN '1-3d'
            WHEN g.day < m.b7 THEN '3-7d' WHEN g.day < m.b30 THEN '7-30d'
            ELSE '30d+' END AS band,
       count(*), count(*) FILTER (WHERE g.day >= m.overdue_from)
FROM stretches s
     JOIN marks m ON m.id = s.incident_id
     CROSS JOIN LATERAL (SELECT greatest(s.d0, (m.f AT TIME ZONE %(tz)s)::date) AS d0) o
     CROSS JOIN LATERAL (SELECT o.d0 + n AS day
                         FROM generate_series(0, s.d1 - o.d0) AS n) g
GROUP BY g.day, m.department_id, m.category_id, m.district_id, band
"""

# The months of a range of days, summed again from their days (all of each month's days:
# a range may cover part of a month).
_MEASURES = ("reports, incidents_opened, first_response_s, verify_s, resolve_s, "
             "resolved_in_sla, reopened, confirmed_fixed, rejected, survey_answers, "
             "survey_rating_sum, survey_ratings, survey_fixed_yes, survey_fixed_no")
MONTHLY_SQL = f"""
INSERT INTO incidents_statsmonthly (day, area_id, department_id, category_id, district_id,
                                    channel, {_MEASURES})
SELECT date_trunc('month', day)::date, area_id, department_id, category_id, district_id,
       channel, sum(reports), sum(incidents_opened), rasad_array_concat(first_response_s),
       rasad_array_concat(verify_s), rasad_array_concat(resolve_s), sum(resolved_in_sla),
       sum(reopened), sum(confirmed_fixed), sum(rejected), sum(survey_answers),
       sum(survey_rating_sum), sum(survey_ratings), sum(survey_fixed_yes),
       sum(survey_fixed_no)
FROM incidents_statsdaily
WHERE area_id = %(area)s AND day >= %(first_month)s AND day < %(after_month)s
GROUP BY 1, area_id, department_id, category_id, district_id, channel
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


def _month_after(day: date) -> date:
    """The first day of the month after `day`'s."""
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


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
            # Compiling these plans (JIT) costs more than running them.
            cursor.execute("SET LOCAL jit = off")
            StatsDaily.objects.filter(area=area, day__gte=first, day__lte=last).delete()
            StatsBacklog.objects.filter(area=area, day__gte=first, day__lte=last).delete()
            cursor.execute(DAILY_SQL, params)
            cursor.execute(BACKLOG_SQL, params)
            months = {"area": area.pk, "first_month": first.replace(day=1),
                      "after_month": _month_after(last)}
            StatsMonthly.objects.filter(area=area, day__gte=months["first_month"],
                                        day__lt=months["after_month"]).delete()
            cursor.execute(MONTHLY_SQL, months)
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
    with connection.cursor() as cursor:
        # The planner's statistics, for the tables just rewritten.
        cursor.execute("ANALYZE incidents_statsdaily, incidents_statsmonthly, "
                       "incidents_statsbacklog")
    StatsWatermark.objects.update_or_create(
        area=area, defaults={"refreshed_to": started, "refreshed_at": timezone.now()})
    return RefreshResult(days=count, seconds=(timezone.now() - started).total_seconds())


def stats_refresh_all() -> dict[str, RefreshResult]:
    """Refresh every area (the beat's task), then tell whoever caches figures
    (`rollups_refreshed`, with the area): the dashboard computes its first views again."""
    results = {}
    for area in ServiceArea.objects.order_by("pk"):
        results[area.slug] = stats_refresh(area=area)
        rollups_refreshed.send(sender=ServiceArea, area=area)
    return results
