"""The report laid out in its language: the HTML page (also the PDF's source, drawn by
WeasyPrint) and the CSV of its tables."""

import csv
import io
from decimal import Decimal

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from incidents.stats.report.build import Kpi, Report, hours_to_days
from incidents.stats.report.locale import Numbers, date_label, month_label
from incidents.stats.report.maps import district_maps

BREACH_ROWS = 20


def _value(kind: str, value: float | None, numbers: Numbers) -> str:
    if kind == "share":
        return numbers.percent(value)
    if kind in ("hours", "days", "rating"):
        return numbers.decimal(value, 1)
    if kind == "per1000":
        return numbers.decimal(value, 2)
    return numbers.count(value)


def _change(kpi: Kpi, numbers: Numbers) -> tuple[str, str]:
    """The change against the previous month and whether it is good, bad or neither."""
    if kpi.value is None or kpi.previous is None:
        return "—", ""
    # The change of the figures as printed: 6.84 → 6.85 hours is no change at one decimal.
    places = {"share": 3, "per1000": 2, "count": 0}.get(kpi.kind, 1)
    delta = round(kpi.value, places) - round(kpi.previous, places)
    if kpi.kind == "share":
        text = numbers.signed(numbers.decimal(abs(delta) * 100, 1), delta) + " " + _("pp")
    elif kpi.kind in ("hours", "days", "rating", "per1000"):
        text = numbers.signed(numbers.decimal(abs(delta), places), delta)
    else:
        text = numbers.signed(numbers.count(abs(int(delta))), delta)
        if kpi.previous:
            text += " (" + numbers.signed(numbers.percent(abs(delta) / kpi.previous, 0),
                                          delta) + ")"
    if not delta or not kpi.better:
        return text, ""
    good = (delta > 0) == (kpi.better == "up")
    return text, "good" if good else "bad"


def _movement(row: dict, numbers: Numbers) -> tuple[str, str]:
    if row["rank"] is None:
        return "—", ""
    if row["previous_rank"] is None:
        return _("new"), "new"
    if row["movement"] > 0:
        return "▲ " + numbers.count(row["movement"]), "good"
    if row["movement"] < 0:
        return "▼ " + numbers.count(-row["movement"]), "bad"
    return "=", ""


def _ranking_rows(rows: list[dict], numbers: Numbers) -> list[dict]:
    out = []
    for row in rows:
        movement, trend = _movement(row, numbers)
        out.append({"rank": numbers.count(row["rank"]) if row["rank"] else "—",
                    "movement": movement, "trend": trend, "name": row["name"],
                    "ranked": row["ranked"],
                    "opened": numbers.count(row["incidents_opened"]),
                    "resolutions": numbers.count(row["resolutions"]),
                    "response_rate": numbers.percent(row["response_rate"], 0),
                    "on_time": numbers.percent(row["on_time_share"], 0),
                    "days": numbers.decimal(row["resolve_days_mean"], 1),
                    "satisfaction": numbers.decimal(row["satisfaction"], 1)})
    return out


def summary_lines(report: Report, numbers: Numbers, month: str, previous: str) -> list[str]:
    totals, backlog = report.totals, report.backlog
    lines = [ngettext(
        "%(reports)s report was received in %(month)s (%(before)s in %(previous)s), and "
        "%(opened)s incidents were opened.",
        "%(reports)s reports were received in %(month)s (%(before)s in %(previous)s), and "
        "%(opened)s incidents were opened.", totals["reports"]) % {
        "reports": numbers.count(totals["reports"]), "month": month,
        "before": numbers.count(report.previous_totals["reports"]), "previous": previous,
        "opened": numbers.count(totals["incidents_opened"])}]
    if totals["resolutions"]:
        lines.append(ngettext(
            "%(count)s incident was resolved, %(share)s of them within their SLA; the median "
            "time to resolve was %(days)s days.",
            "%(count)s incidents were resolved, %(share)s of them within their SLA; the "
            "median time to resolve was %(days)s days.", totals["resolutions"]) % {
            "count": numbers.count(totals["resolutions"]),
            "share": numbers.percent(totals["on_time_share"], 0),
            "days": numbers.decimal(hours_to_days(totals["resolve_h_median"]), 1)})
    else:
        lines.append(_("No incident was resolved this month."))
    lines.append(ngettext(
        "At the month's end %(open)s incident was open, %(overdue)s of them past their SLA.",
        "At the month's end %(open)s incidents were open, %(overdue)s of them past their SLA.",
        backlog["open"]) % {"open": numbers.count(backlog["open"]),
                            "overdue": numbers.count(backlog["overdue"])})
    if totals["survey_answers"]:
        lines.append(ngettext(
            "%(count)s reporter answered the satisfaction survey: a mean rating of "
            "%(rating)s out of 5, and %(fixed)s said the problem was fixed.",
            "%(count)s reporters answered the satisfaction survey: a mean rating of "
            "%(rating)s out of 5, and %(fixed)s said the problem was fixed.",
            totals["survey_answers"]) % {
            "count": numbers.count(totals["survey_answers"]),
            "rating": numbers.decimal(totals["satisfaction"], 1),
            "fixed": numbers.percent(totals["survey_fixed_share"], 0)})
    leader = next((r for r in report.rankings["department"] if r["rank"] == 1), None)
    if leader:
        lines.append(_("First in the department ranking: %(name)s.") % {"name": leader["name"]})
    return lines


def report_context(report: Report) -> dict:
    """The template's context: every figure already written in the report's language."""
    numbers = Numbers(report.language)
    month = month_label(report.period, report.language)
    previous = month_label(report.previous, report.language)
    kpis = []
    for kpi in report.kpis:
        change, trend = _change(kpi, numbers)
        kpis.append({"key": kpi.key, "label": kpi.label,
                     "value": _value(kpi.kind, kpi.value, numbers),
                     "previous": _value(kpi.kind, kpi.previous, numbers),
                     "change": change, "trend": trend})
    total_reports = report.totals["reports"] or 0
    categories = [{"name": c["name"], "reports": numbers.count(c["reports"]),
                   "share": numbers.percent(c["reports"] / total_reports, 0)
                   if total_reports else "—",
                   "opened": numbers.count(c["incidents_opened"]),
                   "resolutions": numbers.count(c["resolutions"]),
                   "on_time": numbers.percent(c["on_time_share"], 0),
                   "days": numbers.decimal(c["resolve_days_mean"], 1)}
                  for c in report.categories]
    breaches = [{"department": b["department"], "category": b["category"],
                 "late": numbers.count(b["late"]), "resolutions": numbers.count(b["resolutions"]),
                 "overdue": numbers.count(b["overdue"]), "open": numbers.count(b["open"])}
                for b in report.breaches[:BREACH_ROWS]]
    late = sum(b["late"] for b in report.breaches)
    survey = report.totals
    span = (date_label(report.period.first, report.language),
            date_label(report.backlog_day, report.language))
    return {
        "lang": report.language,
        "dir": "rtl" if report.language in settings.LANGUAGES_BIDI else "ltr",
        "area": report.area.name_in(report.language),
        "month": month, "previous_month": previous,
        "month_long": month_label(report.period, report.language, long=True),
        "span": _("%(first)s to %(last)s") % {"first": span[0], "last": span[1]},
        "partial": report.backlog_day < report.period.last,
        "generated": date_label(report.generated, report.language),
        "scope": ", ".join(report.scope) if report.scope is not None else "",
        "scoped": report.scope is not None,
        "summary": summary_lines(report, numbers, month, previous),
        "kpis": kpis,
        "rankings": [
            {"title": _("Departments"), "rows": _ranking_rows(report.rankings["department"],
                                                              numbers)},
            {"title": _("Districts"), "rows": _ranking_rows(report.rankings["district"],
                                                            numbers)}],
        "min_cases": numbers.count(report.min_cases),
        "maps": district_maps(report.districts, numbers),
        "districts": [{"name": d["name"], "opened": numbers.count(d["incidents_opened"]),
                       "on_time": numbers.percent(d["on_time_share"], 0),
                       "open": numbers.count(d["open"]), "overdue": numbers.count(d["overdue"])}
                      for d in report.districts],
        "categories": categories,
        "breaches": breaches,
        "breaches_more": max(0, len(report.breaches) - BREACH_ROWS),
        "breaches_more_text": numbers.count(max(0, len(report.breaches) - BREACH_ROWS)),
        "late_total": numbers.count(late),
        "overdue_total": numbers.count(report.backlog["overdue"]),
        "survey": {"answers": numbers.count(survey["survey_answers"]),
                   "previous_answers": numbers.count(report.previous_totals["survey_answers"]),
                   "rating": numbers.decimal(survey["satisfaction"], 1),
                   "previous_rating": numbers.decimal(
                       report.previous_totals["satisfaction"], 1),
                   "fixed": numbers.percent(survey["survey_fixed_share"], 0),
                   "previous_fixed": numbers.percent(
                       report.previous_totals["survey_fixed_share"], 0),
                   "bar": f"{(survey['satisfaction'] or 0) / 5 * 100:.1f}"
                   if survey["satisfaction"] else "",
                   "by_department": [
                       {"name": r["name"], "rating": numbers.decimal(r["satisfaction"], 1)}
                       for r in report.rankings["department"] if r["satisfaction"] is not None]},
    }


def report_render(report: Report, fmt: str) -> bytes:
    with translation.override(report.language):
        if fmt == "csv":
            return _csv(report)
        html = render_to_string("incidents/monthly_report.html", report_context(report))
    if fmt == "html":
        return html.encode("utf-8")
    return html_to_pdf(html)


def html_to_pdf(html: str) -> bytes:
    """WeasyPrint, with every URL refused: the report carries its styles and map inline,
    and nothing in it may reach the network or the disk."""
    from PIL import ImageFile
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    # Importing WeasyPrint makes Pillow read truncated images for the whole process; the
    # photo check (incidents.services.media) relies on Pillow refusing them.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=())).write_pdf()


# CSV: the KPI table and the rankings, one section each, for a spreadsheet.

def _csv_number(value):
    if value is None:
        return ""
    return float(value) if isinstance(value, Decimal) else value


def _csv_share(value):
    return "" if value is None else round(value * 100, 1)


def _csv(report: Report) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_("Monthly report"), report.area.name_in(report.language),
                     f"{report.year}-{report.month:02d}",
                     month_label(report.period, report.language)])
    writer.writerow([])
    writer.writerow([_("Key figures")])
    writer.writerow(["key", _("Measure"), _("This month"), _("Previous month"), _("Change")])
    for kpi in report.kpis:
        scale = _csv_share if kpi.kind == "share" else _csv_number
        change = ""
        if kpi.value is not None and kpi.previous is not None:
            change = (round((kpi.value - kpi.previous) * 100, 1) if kpi.kind == "share"
                      else round(kpi.value - kpi.previous, 2))
        label = kpi.label + (" (%)" if kpi.kind == "share" else "")
        writer.writerow([kpi.key, label, scale(kpi.value), scale(kpi.previous), change])
    for by, title in (("department", _("Department ranking")),
                      ("district", _("District ranking"))):
        writer.writerow([])
        writer.writerow([title])
        writer.writerow([_("Rank"), _("Previous rank"), _("Movement"), _("Name"),
                         _("Ranked"), _("Incidents opened"), _("Incidents resolved"),
                         _("Response rate (%)"), _("Resolved within SLA (%)"),
                         _("Average days to resolve"), _("Satisfaction (1–5)")])
        for row in report.rankings[by]:
            writer.writerow([_csv_number(row["rank"]), _csv_number(row["previous_rank"]),
                             _csv_number(row["movement"]), row["name"],
                             _("yes") if row["ranked"] else _("no"), row["incidents_opened"],
                             row["resolutions"], _csv_share(row["response_rate"]),
                             _csv_share(row["on_time_share"]),
                             _csv_number(row["resolve_days_mean"]),
                             _csv_number(row["satisfaction"])])
    return out.getvalue().encode("utf-8-sig")
