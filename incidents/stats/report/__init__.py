"""The monthly report: a printable account of one month of a service area (summary, KPIs
against the previous month, the department and district rankings, a district map, top
categories, SLA breaches, survey results) in Arabic, Persian or English, as a PDF, an HTML
page or a CSV of its tables.

Every figure comes from incidents.stats.figures (the rollup tables), so building a report
never scans the reports. `report_build` gathers the raw figures; `report_render` lays them
out in one language: numbers in the locale's digits (Arabic-Indic in ar, Persian in fa),
the month in the Solar Hijri calendar in fa, right to left in ar and fa. The PDF is drawn
by WeasyPrint (Pango and HarfBuzz shape Arabic and Persian) from the same HTML, with no
network access: the map is inline SVG and the styles are inline.

build (the figures), locale (digits and calendars), maps (the SVG district map), render
(HTML, PDF, CSV), mail (to the managers on the 1st); `monthly_report` is the one entry
point of the command and the dashboard's download."""

import re
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from gis.models import ServiceArea
from incidents.stats.figures import Filters
from incidents.stats.report.build import area_today, report_build
from incidents.stats.report.locale import Numbers, date_label, month_label
from incidents.stats.report.render import report_render, summary_lines

__all__ = ["CONTENT_TYPES", "FORMATS", "Numbers", "Rendered", "ReportInputError", "area_today",
           "date_label", "languages", "month_label", "month_parse", "monthly_report",
           "previous_month", "report_input_check"]

FORMATS = ("pdf", "html", "csv")
CONTENT_TYPES = {"pdf": "application/pdf", "html": "text/html; charset=utf-8",
                 "csv": "text/csv; charset=utf-8"}
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


class ReportInputError(ValueError):
    """A request for a report that cannot be made; `message` is in the active language."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Rendered:
    content: bytes
    content_type: str
    filename: str
    title: str = ""
    summary: tuple[str, ...] = ()


def languages() -> tuple[str, ...]:
    return tuple(code for code, _name in settings.LANGUAGES)


def month_parse(value: str, *, today: date) -> tuple[int, int]:
    """"2026-11" → (2026, 11); an unknown month or one that has not begun is refused."""
    match = MONTH_RE.match((value or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1900:
        raise ReportInputError("month", _("“%(value)s” is not a month: give one as YYYY-MM, "
                                          "like 2026-11.") % {"value": value})
    year, month = int(match.group(1)), int(match.group(2))
    if date(year, month, 1) > today:
        raise ReportInputError("month", _("%(value)s has not begun yet: there is no report "
                                          "for it.") % {"value": value})
    return year, month


def report_input_check(*, month: str, language: str, fmt: str, today: date) -> tuple[int, int]:
    """Every argument checked before anything is built or written."""
    if language not in languages():
        raise ReportInputError("lang", _("“%(value)s” is not a language of the report: give "
                                         "one of %(choices)s.") % {
            "value": language, "choices": ", ".join(languages())})
    if fmt not in FORMATS:
        raise ReportInputError("format", _("“%(value)s” is not a format of the report: give "
                                           "one of %(choices)s.") % {
            "value": fmt, "choices": ", ".join(FORMATS)})
    return month_parse(month, today=today)


def monthly_report(*, area: ServiceArea, month: str, language: str, fmt: str,
                   filters: Filters | None = None) -> Rendered:
    """The report of `month` ("YYYY-MM") as bytes in `fmt`; ReportInputError (in the
    active language) for bad input, before any figure is read."""
    today = area_today(area)
    year, number = report_input_check(month=month, language=language, fmt=fmt, today=today)
    report = report_build(area=area, year=year, month=number, filters=filters or Filters(),
                          language=language, today=today)
    with translation.override(language):
        numbers = Numbers(language)
        month_name = month_label(report.period, language)
        summary = summary_lines(report, numbers, month_name,
                           month_label(report.previous, language))
        title = _("Monthly report of %(area)s: %(month)s") % {
            "area": area.name_in(language), "month": month_name}
    return Rendered(content=report_render(report, fmt), content_type=CONTENT_TYPES[fmt],
                    filename=f"rasad-{area.slug}-{year}-{number:02d}-{language}.{fmt}",
                    title=title, summary=tuple(summary))


def previous_month(day: date) -> str:
    """The month before `day`'s, as "YYYY-MM"."""
    first = date(day.year - 1, 12, 1) if day.month == 1 else date(day.year, day.month - 1, 1)
    return f"{first.year}-{first.month:02d}"
