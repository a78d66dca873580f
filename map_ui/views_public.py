"""Public pages, no login: the city's figures for the last 12 months (/public/) and the open
data's documentation (/open-data/).

The figures come from incidents.stats.figures only (the rollup tables), for the whole city
and per district, month by month; Persian readers get Solar Hijri months. They are cached
(RASAD_PUBLIC_CACHE_S): a stale copy keeps being served while one request rebuilds it, so a
crowd arriving at once costs the database one build."""

import time as clock
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from gis.models import District, ServiceArea
from incidents.models import StatsWatermark, WorkCalendar
from incidents.opendata import column_docs, licence
from incidents.stats.figures import Filters, Period, totals

MONTHS = 12
MEASURES = ("reports", "resolutions", "resolve_days_median", "on_time_share")
BUILD_WAIT_S = 5.0  # how long a request waits for another one building the first copy


@dataclass(frozen=True)
class Month:
    period: Period
    label: str  # without script: "2026-10", or "1405-07" in the Solar Hijri calendar

    @property
    def middle(self) -> date:
        """A day well inside the month: the page names the month from it in the reader's
        calendar, whatever a day's difference at the edges."""
        return self.period.first + timedelta(days=self.period.days // 2)


def solar_hijri(day: date) -> tuple[int, int, int]:
    """The Solar Hijri (Jalali) date of a Gregorian one: the 33-year arithmetic rule, which
    agrees with the official calendar for this era (and with browsers' `ca-persian`)."""
    days_before = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
    gy = day.year + 1 if day.month > 2 else day.year
    days = (355666 + 365 * day.year + (gy + 3) // 4 - (gy + 99) // 100 + (gy + 399) // 400
            + day.day + days_before[day.month - 1])
    year = -1595 + 33 * (days // 12053)
    days %= 12053
    year += 4 * (days // 1461)
    days %= 1461
    if days > 365:
        year += (days - 1) // 365
        days = (days - 1) % 365
    if days < 186:
        return year, 1 + days // 31, 1 + days % 31
    return year, 7 + (days - 186) // 30, 1 + (days - 186) % 30


def _month_of(day: date, persian: bool) -> Month:
    """The calendar month holding `day` (to its last day)."""
    if persian:
        year, month, day_of_month = solar_hijri(day)
        first = day - timedelta(days=day_of_month - 1)
        following = first + timedelta(days=32)
        following -= timedelta(days=solar_hijri(following)[2] - 1)
        return Month(Period(first, following - timedelta(days=1)), f"{year}-{month:02d}")
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Month(Period(first, following - timedelta(days=1)), f"{first:%Y-%m}")


def last_months(today: date, *, persian: bool, count: int = MONTHS) -> list[Month]:
    """The `count` months up to today's, oldest first; the last one ends today."""
    months = [_month_of(today, persian)]
    while len(months) < count:
        months.insert(0, _month_of(months[0].period.first - timedelta(days=1), persian))
    current = months[-1]
    months[-1] = Month(Period(current.period.first, today), current.label)
    return months


def _measures(figures: dict) -> dict:
    hours = figures["resolve_h_median"]
    return {"reports": figures["reports"], "resolutions": figures["resolutions"],
            "resolve_days_median": round(hours / 24, 1) if hours is not None else None,
            "on_time_share": figures["on_time_share"]}


def _with_bars(rows: list[dict]) -> list[dict]:
    """Each row's bar lengths (0 to 1): its measure against the largest of the rows (shares
    against 100 %)."""
    for name in MEASURES:
        top = 1.0 if name == "on_time_share" else max((r[name] or 0 for r in rows), default=0)
        for row in rows:
            row.setdefault("bars", {})[name] = round((row[name] or 0) / top, 4) if top else 0
    return rows


def public_figures_build(*, area: ServiceArea, today: date, persian: bool,
                         district: District | None) -> dict:
    """Everything /public/ shows, from the rollups: the whole city's and each district's
    figures for the 12 months, and the chosen scope's (the city or one district) month by
    month."""
    months = last_months(today, persian=persian)
    period = Period(months[0].period.first, today)
    everywhere = Filters()
    scope = Filters(districts=(district.pk,)) if district else everywhere
    city = _measures(totals(area_id=area.pk, period=period, filters=everywhere))
    monthly = [{"label": m.label, "first": m.period.first.isoformat(),
                "last": m.period.last.isoformat(), "middle": m.middle.isoformat(),
                **_measures(totals(area_id=area.pk, period=m.period, filters=scope))}
               for m in months]
    districts = []
    for unit in District.objects.filter(area=area).order_by("code"):
        figures = totals(area_id=area.pk, period=period, filters=Filters(districts=(unit.pk,)))
        districts.append({"code": unit.code, "name": unit.name_in(),
                          "reports_per_1000": figures["reports_per_1000"],
                          **_measures(figures)})
    return {"first": period.first.isoformat(), "last": period.last.isoformat(),
            "calendar": "persian" if persian else "gregorian", "city": city,
            "months": _with_bars(monthly), "districts": _with_bars(districts),
            "any_population": any(d["reports_per_1000"] is not None for d in districts)}


def _cached(key: str, version: str, build) -> dict:
    """The cached value of `key`, rebuilt when older than RASAD_PUBLIC_CACHE_S or built
    from older rollups than `version`. One request at a time rebuilds it: meanwhile the
    others get the previous copy, or (when there is none yet) wait a little for it."""
    fresh_s = settings.RASAD_PUBLIC_CACHE_S
    entry = cache.get(key)
    if entry and entry["version"] == version and clock.time() - entry["at"] < fresh_s:
        return entry["value"]
    building = cache.add(f"{key}:building", 1, timeout=60)
    if not building and entry:
        return entry["value"]
    if not building:
        deadline = clock.monotonic() + BUILD_WAIT_S
        while clock.monotonic() < deadline:
            clock.sleep(0.1)
            if entry := cache.get(key):
                return entry["value"]
    try:
        value = build()
        cache.set(key, {"value": value, "version": version, "at": clock.time()},
                  timeout=max(fresh_s * 12, 3600))
    finally:
        if building:
            cache.delete(f"{key}:building")
    return value


def _titles() -> dict[str, str]:
    return {"reports": _("Reports received"), "resolutions": _("Problems resolved"),
            "resolve_days_median": _("Median days to resolve"),
            "on_time_share": _("Resolved on time")}


KINDS = {"reports": "count", "resolutions": "count", "resolve_days_median": "days",
         "on_time_share": "share"}


def _cell(value, kind: str, bar: float = 0, **extra) -> dict:
    """A figure as the page shows it: the raw value (public.js writes it in the reader's
    digits and style) and a plain text for pages read without scripts."""
    if value is None:
        text = "—"
    elif kind == "share":
        text = f"{round(value * 100)} %"
    elif kind in ("days", "rate"):
        text = f"{value:.1f}"
    else:
        text = str(value)
    return {"value": value, "kind": kind, "text": text, "bar": bar, **extra}


def _page_figures(figures: dict) -> dict:
    """The cached figures laid out for the template: the city's four KPIs, one chart per
    measure (a row per month) and one row per district."""
    titles = _titles()
    kpis = [_cell(figures["city"][m], KINDS[m], measure=m, title=titles[m])
            for m in MEASURES]
    charts = [{"measure": m, "title": titles[m], "rows": [
        _cell(month[m], KINDS[m], month["bars"][m], label=month["label"],
              first=month["first"], last=month["last"], middle=month["middle"])
        for month in figures["months"]]} for m in MEASURES]
    rows = [{"code": row["code"], "name": row["name"],
             "cells": [_cell(row[m], KINDS[m], row["bars"][m]) for m in MEASURES],
             "per_1000": _cell(row["reports_per_1000"], "rate")}
            for row in figures["districts"]]
    return {"kpis": kpis, "charts": charts, "district_rows": rows}


def _area() -> ServiceArea | None:
    return ServiceArea.objects.order_by("pk").first()


def _city_today(area: ServiceArea) -> date:
    """Today in the city (its working calendar's time zone)."""
    zone = (WorkCalendar.objects.filter(area=area).values_list("timezone", flat=True).first()
            or settings.RASAD_WORK_TIMEZONE)
    return timezone.localdate(timezone=ZoneInfo(zone))


def _open_data_links() -> dict:
    return {"csv": reverse("open-data-csv"), "geojson": reverse("open-data-geojson"),
            "docs": reverse("open-data")}


@require_GET
def public_figures(request):
    """The city's figures, month by month, for everyone. `?district=code` shows that
    district's months (an unknown code: 400, with the city's figures)."""
    area = _area()
    language = (translation.get_language() or "en")[:2]
    persian = language == "fa"
    code = request.GET.get("district", "").strip()
    district = error = None
    status = 200
    if area and code:
        district = District.objects.filter(area=area, code=code).first()
        if district is None:
            error = _("There is no district “%(code)s”. Choose one from the list.") % {
                "code": code[:60]}
            status = 400
    figures = None
    if area:
        mark = StatsWatermark.objects.filter(area=area).values_list(
            "refreshed_to", "refreshed_at").first()
        today = _city_today(area)
        key = (f"public-figures:{connection.settings_dict['NAME']}:{area.pk}:{language}:"
               f"{district.code if district else ''}:{today.isoformat()}")
        version = mark[0].isoformat() if mark else ""
        figures = _cached(key, version, lambda: {
            **public_figures_build(area=area, today=today, persian=persian,
                                   district=district),
            "updated_at": mark[1].isoformat() if mark else None})
    context = {
        **(_page_figures(figures) if figures else {}),
        "area": area, "figures": figures, "error": error, "district": district,
        "districts": District.objects.filter(area=area).order_by("code") if area else [],
        "links": _open_data_links(), "licence": licence(), "config": {},
    }
    return render(request, "map_ui/public.html", context, status=status)


@require_GET
def open_data(request):
    """What the open data holds, column by column, its filters and its licence."""
    area = _area()
    context = {"columns": column_docs(), "links": _open_data_links(), "licence": licence(),
               "districts": District.objects.filter(area=area).order_by("code") if area else [],
               "config": {}}
    return render(request, "map_ui/open_data.html", context)
