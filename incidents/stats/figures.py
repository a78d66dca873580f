"""Reading the figures: every number the dashboard, the monthly report and the public page
show, from the rollup tables only (incidents.stats.rollup), so no page scans the reports.

The measures, for a period and a filter (departments, categories, districts, channels):
reports received; incidents opened; time to first response, to verification, to resolution
(median and p90, in hours); resolutions, and the share resolved within the SLA (in working
time); share reopened and share confirmed fixed by the reporter (of the resolutions);
rejected; satisfaction (answers, mean rating 1–5, share fixed); reports per 1,000 residents
(where districts have a population); and the backlog by age band at the period's end.
Rankings, trends and per-district figures are the same measures grouped."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import connection

from gis.models import District
from incidents.models import Category, Department

AGE_BANDS = ("0-1d", "1-3d", "3-7d", "7-30d", "30d+")


@dataclass(frozen=True)
class Filters:
    """What a figure is restricted to; empty means all. `departments` None means every
    department (an admin or a manager); a dispatcher's are their departments."""

    departments: tuple[int, ...] | None = None
    categories: tuple[int, ...] = ()
    districts: tuple[int, ...] = ()
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> "Period":
        """The period just before, of the same length (a month before a month)."""
        if self.first.day == 1 and (self.last + timedelta(days=1)).day == 1:
            months = (self.last.year - self.first.year) * 12 + self.last.month - \
                self.first.month + 1
            year, month = self.first.year, self.first.month - months
            while month < 1:
                month, year = month + 12, year - 1
            return Period(date(year, month, 1), self.first - timedelta(days=1))
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))


def month_period(year: int, month: int) -> Period:
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return Period(first, following - timedelta(days=1))


def _where(area_id: int, period: Period, filters: Filters, *,
           dimensions: tuple[str, ...] = ("department", "category", "district", "channel"),
           alias: str = "s") -> tuple[str, list]:
    clauses = [f"{alias}.area_id = %s", f"{alias}.day BETWEEN %s AND %s"]
    params: list = [area_id, period.first, period.last]
    for name, values, column in (("department", filters.departments, "department_id"),
                                 ("category", filters.categories, "category_id"),
                                 ("district", filters.districts, "district_id"),
                                 ("channel", filters.channels, "channel")):
        if name not in dimensions or values is None or (not values and name != "department"):
            continue
        if name == "department" and values is not None:
            clauses.append(f"{alias}.department_id = ANY(%s)")
            params.append(list(values))
            continue
        clauses.append(f"{alias}.{column} = ANY(%s)")
        params.append(list(values))
    return " AND ".join(clauses), params



_COLUMNS = ("day, area_id, department_id, category_id, district_id, channel, reports, "
            "incidents_opened, first_response_s, verify_s, resolve_s, resolved_in_sla, "
            "reopened, confirmed_fixed, rejected, survey_answers, survey_rating_sum, "
            "survey_ratings, survey_fixed_yes, survey_fixed_no")


def _source(period: Period, *, months: bool = True) -> tuple[str, list]:
    """The rows a period's figures are summed from (as `s`): its whole months from the
    monthly rollup and the days around them from the daily one, or only days (a period
    without a whole month, a trend by day or week). Its parameters come first."""
    first = period.first if period.first.day == 1 else \
        date(period.first.year + (period.first.month == 12), period.first.month % 12 + 1, 1)
    following = period.last + timedelta(days=1)
    last = period.last if following.day == 1 else period.last.replace(day=1) - timedelta(days=1)
    if not months or first > last:
        return "incidents_statsdaily", []
    parts = [f"SELECT {_COLUMNS} FROM incidents_statsmonthly WHERE day BETWEEN %s AND %s"]
    params: list = [first, last]
    for start, end in ((period.first, first - timedelta(days=1)),
                       (last + timedelta(days=1), period.last)):
        if start <= end:  # the days before the first whole month, and after the last
            parts.append(f"SELECT {_COLUMNS} FROM incidents_statsdaily "
                         f"WHERE day BETWEEN %s AND %s")
            params += [start, end]
    return "(" + " UNION ALL ".join(parts) + ")", params


def _query(area_id: int, period: Period, filters: Filters, *,
           months: bool = True) -> tuple[dict, list]:
    """`source` and `where` for a query over the period's cells, and their parameters."""
    source, source_params = _source(period, months=months)
    where, params = _where(area_id, period, filters)
    return {"source": source, "where": where}, source_params + params

_TOTALS = """
SELECT coalesce(sum(reports), 0), coalesce(sum(incidents_opened), 0),
       coalesce(sum(cardinality(first_response_s)), 0),
       coalesce(sum(cardinality(resolve_s)), 0), coalesce(sum(resolved_in_sla), 0),
       coalesce(sum(reopened), 0), coalesce(sum(confirmed_fixed), 0),
       coalesce(sum(rejected), 0), coalesce(sum(survey_answers), 0),
       coalesce(sum(survey_rating_sum), 0), coalesce(sum(survey_ratings), 0),
       coalesce(sum(survey_fixed_yes), 0), coalesce(sum(survey_fixed_no), 0)
FROM {source} s WHERE {where}
"""
_PERCENTILES = """
SELECT (SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY v)
        FROM {source} s, unnest(s.first_response_s) v WHERE {where}),
       (SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY v)
        FROM {source} s, unnest(s.verify_s) v WHERE {where}),
       (SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY v)
        FROM {source} s, unnest(s.resolve_s) v WHERE {where})
"""


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _hours(seconds: float | None) -> float | None:
    return round(seconds / 3600, 2) if seconds is not None else None


def _pair(values) -> tuple[float | None, float | None]:
    return (_hours(values[0]), _hours(values[1])) if values else (None, None)


def totals(*, area_id: int, period: Period, filters: Filters) -> dict:
    """Every measure of the period, summed over the filtered cells."""
    parts, params = _query(area_id, period, filters)
    with connection.cursor() as cursor:
        cursor.execute(_TOTALS.format(**parts), params)
        (reports, opened, responses, resolutions, in_sla, reopened, confirmed, rejected,
         answers, rating_sum, ratings, fixed_yes, fixed_no) = cursor.fetchone()
        cursor.execute(_PERCENTILES.format(**parts), params * 3)
        first_response, verify, resolve = cursor.fetchone()
    response = _pair(first_response)
    verification = _pair(verify)
    resolution = _pair(resolve)
    return {
        "reports": reports, "incidents_opened": opened, "responses": responses,
        "first_response_h_median": response[0], "first_response_h_p90": response[1],
        "verify_h_median": verification[0], "verify_h_p90": verification[1],
        "resolve_h_median": resolution[0], "resolve_h_p90": resolution[1],
        "resolutions": resolutions, "resolved_in_sla": in_sla,
        "on_time_share": _share(in_sla, resolutions),
        "reopened": reopened, "reopened_share": _share(reopened, resolutions),
        "confirmed_fixed": confirmed, "confirmed_share": _share(confirmed, resolutions),
        "rejected": rejected, "survey_answers": answers,
        "satisfaction": round(rating_sum / ratings, 2) if ratings else None,
        "survey_fixed_share": _share(fixed_yes, fixed_yes + fixed_no),
        "reports_per_1000": _per_thousand(reports, filters),
    }


def _per_thousand(reports: int, filters: Filters) -> float | None:
    """Reports per 1,000 residents, when every district counted has a population."""
    districts = District.objects.all()
    if filters.districts:
        districts = districts.filter(pk__in=filters.districts)
    populations = list(districts.values_list("population", flat=True))
    if not populations or any(p is None for p in populations):
        return None
    residents = sum(populations)
    return round(reports * 1000 / residents, 2) if residents else None


def backlog(*, area_id: int, day: date, filters: Filters) -> dict:
    """Open incidents at the end of `day`, by age band, and how many of them are past their
    SLA (no row for a day: nothing was open)."""
    where, params = _where(area_id, Period(day, day), filters,
                           dimensions=("department", "category", "district"))
    bands = dict.fromkeys(AGE_BANDS, 0)
    overdue = 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT age_band, sum(open_count), sum(overdue_count) "
                       f"FROM incidents_statsbacklog s WHERE {where} GROUP BY age_band", params)
        for band, count, late in cursor.fetchall():
            bands[band] = count
            overdue += late
    return {"day": day.isoformat(), "open": sum(bands.values()), "overdue": overdue,
            "bands": bands}


_GROUPED = """
SELECT {key}, coalesce(sum(reports), 0), coalesce(sum(incidents_opened), 0),
       coalesce(sum(cardinality(first_response_s)), 0),
       coalesce(sum(cardinality(resolve_s)), 0), coalesce(sum(resolved_in_sla), 0),
       coalesce(sum(reopened), 0),
       sum((SELECT sum(v) FROM unnest(resolve_s) v))::float8
           / nullif(sum(cardinality(resolve_s)), 0),
       coalesce(sum(survey_rating_sum), 0), coalesce(sum(survey_ratings), 0)
FROM {source} s WHERE {where} GROUP BY {key}
"""


def grouped(*, area_id: int, period: Period, filters: Filters, by: str) -> dict:
    """The main measures per department, category, district or channel."""
    key = {"department": "department_id", "category": "category_id",
           "district": "district_id", "channel": "channel"}[by]
    parts, params = _query(area_id, period, filters)
    rows = {}
    with connection.cursor() as cursor:
        cursor.execute(_GROUPED.format(key=key, **parts), params)
        for (unit, reports, opened, responses, resolutions, in_sla, reopened, mean_resolve,
             rating_sum, ratings) in cursor.fetchall():
            rows[unit] = {
                "reports": reports, "incidents_opened": opened,
                "response_rate": min(1.0, _share(responses, opened)) if opened else None,
                "resolutions": resolutions, "on_time_share": _share(in_sla, resolutions),
                "reopened_share": _share(reopened, resolutions),
                "resolve_days_mean": round(mean_resolve / 86400, 2) if mean_resolve else None,
                "satisfaction": round(rating_sum / ratings, 2) if ratings else None}
    return rows


def ranking(*, area_id: int, period: Period, filters: Filters, by: str) -> list[dict]:
    """The monthly ranking (Beheira's): units ordered by on-time share, then response rate,
    then faster average resolution; a unit with fewer incidents than
    RASAD_RANKING_MIN_CASES is listed but not ranked, so one quick fix cannot top the
    table. Movement is the change of rank since the previous period."""
    minimum = settings.RASAD_RANKING_MIN_CASES
    names = _unit_names(by)

    def ranked(p: Period) -> tuple[list[dict], dict]:
        rows = []
        for unit, figures in grouped(area_id=area_id, period=p, filters=filters,
                                     by=by).items():
            rows.append({"id": unit, "name": names.get(unit, str(unit or "—")), **figures,
                         "ranked": max(figures["incidents_opened"],
                                       figures["resolutions"]) >= minimum})
        order = sorted((r for r in rows if r["ranked"]), key=lambda r: (
            -(r["on_time_share"] or 0), -(r["response_rate"] or 0),
            r["resolve_days_mean"] if r["resolve_days_mean"] is not None else 1e9,
            r["name"]))
        ranks = {r["id"]: index + 1 for index, r in enumerate(order)}
        return rows, ranks

    rows, ranks = ranked(period)
    _previous_rows, previous = ranked(period.previous())
    for row in rows:
        row["rank"] = ranks.get(row["id"])
        before = previous.get(row["id"])
        row["previous_rank"] = before
        row["movement"] = (before - row["rank"]) if row["rank"] and before else None
    return sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["name"]))


def _unit_names(by: str) -> dict:
    if by == "department":
        return {d.pk: d.name_in() for d in Department.objects.all()}
    if by == "category":
        return {c.pk: c.name_in() for c in Category.objects.all()}
    if by == "district":
        return {d.pk: d.name_in() for d in District.objects.all()}
    from incidents.models import Channel

    return {c.value: str(c.label) for c in Channel}


_TREND = """
WITH cells AS MATERIALIZED (
    SELECT date_trunc(%s, day)::date AS bucket, reports, incidents_opened, resolve_s,
           resolved_in_sla
    FROM {source} s WHERE {where}
), medians AS (
    SELECT bucket, percentile_cont(0.5) WITHIN GROUP (ORDER BY v) AS median
    FROM cells, unnest(resolve_s) v GROUP BY bucket
)
SELECT c.bucket, coalesce(sum(c.reports), 0), coalesce(sum(c.incidents_opened), 0),
       coalesce(sum(cardinality(c.resolve_s)), 0), coalesce(sum(c.resolved_in_sla), 0),
       m.median
FROM cells c LEFT JOIN medians m ON m.bucket = c.bucket
GROUP BY c.bucket, m.median ORDER BY c.bucket
"""


def trend(*, area_id: int, period: Period, filters: Filters, step: str = "") -> list[dict]:
    """The main measures per day, week or month of the period (chosen by its length when
    `step` is empty)."""
    step = step or ("day" if period.days <= 62 else "week" if period.days <= 190 else "month")
    parts, params = _query(area_id, period, filters, months=step == "month")
    with connection.cursor() as cursor:
        cursor.execute(_TREND.format(**parts), [step, *params])
        return [{"start": bucket.isoformat(), "reports": reports, "incidents_opened": opened,
                 "resolutions": resolutions, "on_time_share": _share(in_sla, resolutions),
                 "resolve_h_median": _hours(median)}
                for bucket, reports, opened, resolutions, in_sla, median in cursor.fetchall()]


_LATE = """
SELECT department_id, category_id, coalesce(sum(cardinality(resolve_s)), 0),
       coalesce(sum(cardinality(resolve_s)), 0) - coalesce(sum(resolved_in_sla), 0)
FROM {source} s WHERE {where} GROUP BY department_id, category_id
"""


def sla_breaches(*, area_id: int, period: Period, filters: Filters) -> list[dict]:
    """Per department and category: the period's resolutions outside the SLA (`late`, of
    `resolutions`) and the backlog past its SLA at the period's end (`overdue`, of
    `open`); only the pairs with a breach, most breaches first."""
    cells: dict[tuple, dict] = {}

    def cell(key: tuple) -> dict:
        return cells.setdefault(key, {"department_id": key[0], "category_id": key[1],
                                      "resolutions": 0, "late": 0, "open": 0, "overdue": 0})

    parts, params = _query(area_id, period, filters)
    with connection.cursor() as cursor:
        cursor.execute(_LATE.format(**parts), params)
        for department, category, resolutions, late in cursor.fetchall():
            cell((department, category)).update(resolutions=resolutions, late=late)
        where, params = _where(area_id, Period(period.last, period.last), filters,
                               dimensions=("department", "category", "district"))
        cursor.execute(f"SELECT department_id, category_id, sum(open_count), "
                       f"sum(overdue_count) FROM incidents_statsbacklog s WHERE {where} "
                       f"GROUP BY department_id, category_id", params)
        for department, category, count, late in cursor.fetchall():
            cell((department, category)).update(open=count, overdue=late)
    departments, categories = _unit_names("department"), _unit_names("category")
    rows = [{**row, "department": departments.get(row["department_id"], "—"),
             "category": categories.get(row["category_id"], "—")}
            for row in cells.values() if row["late"] or row["overdue"]]
    return sorted(rows, key=lambda r: (-(r["late"] + r["overdue"]), r["department"],
                                       r["category"]))


def backlog_grouped(*, area_id: int, day: date, filters: Filters, by: str) -> dict:
    """Open incidents at the end of `day` and how many are past their SLA, per department,
    category or district: {unit id: {"open", "overdue"}} (units with nothing open are
    absent)."""
    key = {"department": "department_id", "category": "category_id",
           "district": "district_id"}[by]
    where, params = _where(area_id, Period(day, day), filters,
                           dimensions=("department", "category", "district"))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {key}, sum(open_count), sum(overdue_count) "
                       f"FROM incidents_statsbacklog s WHERE {where} GROUP BY {key}", params)
        return {unit: {"open": count, "overdue": late}
                for unit, count, late in cursor.fetchall()}
