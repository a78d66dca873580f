"""The figures of a month and of the month before, gathered from incidents.stats.figures
(the rollup tables) with the units' names in the report's language."""

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from gis.models import District, ServiceArea
from incidents.models import Category, Department
from incidents.stats import figures
from incidents.stats.calendar import calendar_for
from incidents.stats.figures import Filters, Period

TOP_CATEGORIES = 10


def area_today(area: ServiceArea) -> date:
    """Today where the area is (its working calendar's time zone)."""
    return timezone.now().astimezone(ZoneInfo(calendar_for(area).timezone)).date()


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    kind: str  # count, share, hours, days, rating, per1000
    better: str  # up, down, or "" when neither
    value: float | None
    previous: float | None


@dataclass
class Report:
    area: ServiceArea
    language: str
    year: int
    month: int
    period: Period
    previous: Period
    backlog_day: date
    generated: date
    scope: list[str] | None
    kpis: list[Kpi]
    totals: dict
    previous_totals: dict
    backlog: dict
    previous_backlog: dict
    rankings: dict[str, list[dict]]
    districts: list[dict]
    categories: list[dict]
    breaches: list[dict]
    min_cases: int


_KPIS = (  # key, label, kind, which way is better
    ("reports", gettext_lazy("Reports received"), "count", ""),
    ("incidents_opened", gettext_lazy("Incidents opened"), "count", ""),
    ("first_response_h_median", gettext_lazy("First response, median (hours)"), "hours",
     "down"),
    ("first_response_h_p90", gettext_lazy("First response, 90th percentile (hours)"),
     "hours", "down"),
    ("verify_h_median", gettext_lazy("Verification, median (hours)"), "hours", "down"),
    ("resolve_d_median", gettext_lazy("Resolution, median (days)"), "days", "down"),
    ("resolve_d_p90", gettext_lazy("Resolution, 90th percentile (days)"), "days", "down"),
    ("resolutions", gettext_lazy("Incidents resolved"), "count", ""),
    ("on_time_share", gettext_lazy("Resolved within SLA"), "share", "up"),
    ("reopened_share", gettext_lazy("Reopened after resolution"), "share", "down"),
    ("confirmed_share", gettext_lazy("Fix confirmed by the reporter"), "share", "up"),
    ("rejected", gettext_lazy("Reports rejected"), "count", ""),
    ("backlog_open", gettext_lazy("Open at the month's end"), "count", "down"),
    ("backlog_overdue", gettext_lazy("Open past SLA at the month's end"), "count", "down"),
    ("survey_answers", gettext_lazy("Survey answers"), "count", ""),
    ("satisfaction", gettext_lazy("Satisfaction (1–5)"), "rating", "up"),
    ("survey_fixed_share", gettext_lazy("Said it was fixed"), "share", "up"),
    ("reports_per_1000", gettext_lazy("Reports per 1,000 residents"), "per1000", ""),
)


def hours_to_days(hours: float | None) -> float | None:
    return round(hours / 24, 2) if hours is not None else None


def _kpi_values(totals: dict, backlog: dict) -> dict:
    return {**totals, "resolve_d_median": hours_to_days(totals["resolve_h_median"]),
            "resolve_d_p90": hours_to_days(totals["resolve_h_p90"]),
            "backlog_open": backlog["open"], "backlog_overdue": backlog["overdue"]}


def report_build(*, area: ServiceArea, year: int, month: int, filters: Filters,
                 language: str, today: date | None = None) -> Report:
    """Every figure of the month and of the month before, names in `language`."""
    today = today or area_today(area)
    period = figures.month_period(year, month)
    previous = period.previous()
    backlog_day = min(period.last, today)
    with translation.override(language):
        common = {"area_id": area.pk, "filters": filters}
        totals = figures.totals(period=period, **common)
        previous_totals = figures.totals(period=previous, **common)
        backlog = figures.backlog(day=backlog_day, **common)
        previous_backlog = figures.backlog(day=previous.last, **common)
        values = _kpi_values(totals, backlog)
        before = _kpi_values(previous_totals, previous_backlog)
        kpis = [Kpi(key, str(label), kind, better, values[key], before[key])
                for key, label, kind, better in _KPIS]
        rankings = {by: figures.ranking(period=period, by=by, **common)
                    for by in ("department", "district")}
        by_category = figures.grouped(period=period, by="category", **common)
        names = {c.pk: c.name_in() for c in Category.objects.all()}
        categories = sorted(
            ({"id": unit, "name": names.get(unit, "—"), **row}
             for unit, row in by_category.items()),
            key=lambda r: (-r["reports"], -r["incidents_opened"], r["name"]))[:TOP_CATEGORIES]
        breaches = figures.sla_breaches(period=Period(period.first, backlog_day), **common)
        districts = _districts(area, rankings["district"],
                               figures.backlog_grouped(day=backlog_day, by="district",
                                                       **common))
        scope = None
        if filters.departments is not None:
            scope = sorted(d.name_in() for d in
                           Department.objects.filter(pk__in=filters.departments))
    return Report(area=area, language=language, year=year, month=month, period=period,
                  previous=previous, backlog_day=backlog_day, generated=today, scope=scope,
                  kpis=kpis, totals=totals, previous_totals=previous_totals, backlog=backlog,
                  previous_backlog=previous_backlog, rankings=rankings, districts=districts,
                  categories=categories, breaches=breaches,
                  min_cases=settings.RASAD_RANKING_MIN_CASES)


def _districts(area: ServiceArea, ranking: list[dict], backlog: dict) -> list[dict]:
    """Each district of the area with its geometry and the figures its map shades."""
    by_id = {row["id"]: row for row in ranking}
    rows = []
    for district in District.objects.filter(area=area).order_by("code"):
        row = by_id.get(district.pk, {})
        late = backlog.get(district.pk, {})
        rows.append({"id": district.pk, "name": district.name_in(),
                     "boundary": district.boundary,
                     "incidents_opened": row.get("incidents_opened", 0),
                     "resolutions": row.get("resolutions", 0),
                     "on_time_share": row.get("on_time_share"),
                     "open": late.get("open", 0), "overdue": late.get("overdue", 0)})
    return rows
