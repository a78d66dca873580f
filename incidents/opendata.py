"""Open data: every incident as one row of the published columns (the shape NYC's and
Boston's 311 data have), and the CSV and GeoJSON writers.

Rows are read with a server-side cursor inside one transaction and written chunk
by chunk, so an export of any size streams in flat memory; nothing is ever refused for size.

Never selected: anything of the reporters (names, phones, e-mails, channel contacts,
accounts, IP addresses, tokens, tracking codes). The description is the first report's, and
only where staff published it (Incident.publish_description). Merged incidents are left
out: their reports count in the incident they were merged into."""

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gis.models import District, ServiceArea
from incidents.exceptions import ValidationFailed
from incidents.models import OPEN_STATUSES, Category, Status, WorkCalendar
from incidents.stats.calendar import business_days_ensure

# Statuses an incident ends in; "open" and "closed" in a filter stand for these groups.
CLOSED_STATUSES = (Status.RESOLVED, Status.CLOSED, Status.REJECTED)
PUBLISHED_STATUSES = (*OPEN_STATUSES, *CLOSED_STATUSES)  # every status but merged
ON_TIME, OVERDUE = "on_time", "overdue"

# The published columns, in order, and what each means (the /open-data/ page and the
# README list them). Times are ISO 8601 in UTC.
COLUMNS: tuple[tuple[str, object], ...] = (
    ("id", gettext_lazy("The incident's number: unique and never reused. Several reports "
                        "of one problem make one incident.")),
    ("opened_at", gettext_lazy("When the problem was first reported.")),
    ("due_at", gettext_lazy("When its service level (the category's target time, counted in "
                            "the city's working hours, without weekends and public holidays) "
                            "runs out.")),
    ("resolved_at", gettext_lazy("When a crew reported it fixed (the latest time, if it was "
                                 "reopened); empty if it is not resolved.")),
    ("closed_at", gettext_lazy("When it was closed for good: the fix confirmed, or the report "
                               "rejected; empty otherwise.")),
    ("status", gettext_lazy("Its status now: new, verified, assigned, en_route, on_site, "
                            "reopened (open), or resolved, closed, rejected.")),
    ("state", gettext_lazy("open or closed (resolved, closed and rejected are closed).")),
    ("on_time", gettext_lazy("on_time or overdue. Resolved incidents: resolved within the "
                             "service level, in working time. Open ones: not yet past it. "
                             "Empty for rejected ones.")),
    ("channel", gettext_lazy("How the first report came: web, app, open311, whatsapp, "
                             "telegram, bale, messenger, sms, phone, service_centre, email, "
                             "social, meeting.")),
    ("district_code", gettext_lazy("The district's code (empty outside every district).")),
    ("district_name", gettext_lazy("The district's name, in the language asked for.")),
    ("category_code", gettext_lazy("The category's code (the Open311 service_code).")),
    ("category_name", gettext_lazy("The category's name, in the language asked for.")),
    ("department_code", gettext_lazy("The code of the department responsible.")),
    ("department_name", gettext_lazy("The department's name, in the language asked for.")),
    ("latitude", gettext_lazy("Where it is (WGS 84), rounded to 4 decimals: about 10 m.")),
    ("longitude", gettext_lazy("Where it is (WGS 84), rounded to 4 decimals: about 10 m.")),
    ("report_count", gettext_lazy("How many reports it gathers.")),
    ("description", gettext_lazy("The first report's description, only where city staff "
                                 "chose to publish it (empty otherwise).")),
)
COLUMN_NAMES = tuple(name for name, _meaning in COLUMNS)
LANGUAGES = ("en", "ar", "fa")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class OpenDataFilters:
    """What an export holds: incidents first reported from `opened_from` to `opened_to`
    (the city's local dates, both included), of these categories, districts and statuses
    (codes; empty means all)."""

    opened_from: date | None = None
    opened_to: date | None = None
    categories: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()


def _values(params: Mapping, name: str) -> list[str]:
    """A list parameter, repeated (`?district=a&district=b`) or comma-separated."""
    raw = params.getlist(name) if hasattr(params, "getlist") else [params.get(name) or ""]
    return [v.strip() for value in raw for v in str(value).split(",") if v.strip()]


def _date(params: Mapping, name: str, errors: dict) -> date | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        errors[name] = [_("“%(value)s” is not a date: write it as YYYY-MM-DD, like "
                          "2026-10-31.") % {"value": value[:40]}]
        return None


def _unknown(asked: list[str], known: set[str]) -> list[str]:
    return [code for code in asked if code not in known]


def opendata_filters_parse(params: Mapping) -> OpenDataFilters:
    """The filters of a download request (opened_from, opened_to, category, district,
    status). Refuses, with every reason at once (ValidationFailed, 400): a malformed date, a
    start after the end, an unknown category, district or status."""
    errors: dict[str, list[str]] = {}
    opened_from = _date(params, "opened_from", errors)
    opened_to = _date(params, "opened_to", errors)
    if opened_from and opened_to and opened_from > opened_to:
        errors["opened_to"] = [_("The start date (%(start)s) is after the end date "
                                 "(%(end)s).") % {"start": opened_from.isoformat(),
                                                  "end": opened_to.isoformat()}]
    categories = _values(params, "category")
    known = set(Category.objects.filter(code__in=categories).values_list("code", flat=True))
    if unknown := _unknown(categories, known):
        errors["category"] = [_("There is no category “%(code)s”. The categories are: "
                                "%(known)s.") % {"code": unknown[0][:60], "known": ", ".join(
                                    Category.objects.order_by("code")
                                    .values_list("code", flat=True))}]
    districts = _values(params, "district")
    known = set(District.objects.filter(code__in=districts).values_list("code", flat=True))
    if unknown := _unknown(districts, known):
        errors["district"] = [_("There is no district “%(code)s”. The districts are: "
                                "%(known)s.") % {"code": unknown[0][:60], "known": ", ".join(
                                    District.objects.order_by("code").distinct()
                                    .values_list("code", flat=True))}]
    statuses: list[str] = []
    for code in _values(params, "status"):
        if code == "open":
            statuses += OPEN_STATUSES
        elif code == "closed":
            statuses += CLOSED_STATUSES
        elif code in PUBLISHED_STATUSES:
            statuses.append(code)
        else:
            errors["status"] = [_("“%(code)s” is not a status you can ask for. Use open, "
                                  "closed or one of: %(known)s.")
                                % {"code": code[:60], "known": ", ".join(PUBLISHED_STATUSES)}]
    if errors:
        raise ValidationFailed(errors)
    return OpenDataFilters(opened_from=opened_from, opened_to=opened_to,
                           categories=tuple(dict.fromkeys(categories)),
                           districts=tuple(dict.fromkeys(districts)),
                           statuses=tuple(dict.fromkeys(statuses)))


def _city_zone() -> ZoneInfo:
    """The time zone in which the date filters are read: the (first) area's calendar."""
    zone = (WorkCalendar.objects.filter(area__isnull=False).order_by("area_id")
            .values_list("timezone", flat=True).first())
    return ZoneInfo(zone or settings.RASAD_WORK_TIMEZONE)


_ISO = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"


def _iso(expression: str) -> str:
    return f"coalesce(to_char(({expression}) AT TIME ZONE 'UTC', {_ISO}), '')"


def _name(alias: str, language: str) -> str:
    # `language` is one of LANGUAGES: safe to write into the statement.
    if language == "en":
        return f"coalesce({alias}.name_en, '')"
    return f"coalesce(nullif({alias}.name_{language}, ''), {alias}.name_en, '')"


def _query(filters: OpenDataFilters, language: str, now: datetime) -> tuple[str, list]:
    """The export's statement. The SLA clock is the rollups' (incidents.stats.rollup): the
    working seconds from the first report to the resolution (or to now, while open), against
    a budget of sla_hours / 24 working days."""
    where = [f"i.status IN ({', '.join(['%s'] * len(PUBLISHED_STATUSES))})"]
    params: list = [*PUBLISHED_STATUSES]
    zone = _city_zone()
    if filters.opened_from:
        where.append("i.first_reported_at >= %s")
        params.append(datetime.combine(filters.opened_from, time(0), zone))
    if filters.opened_to:
        where.append("i.first_reported_at < %s")
        params.append(datetime.combine(filters.opened_to + timedelta(days=1), time(0), zone))
    if filters.categories:
        where.append("c.code = ANY(%s)")
        params.append(list(filters.categories))
    if filters.districts:
        where.append("d.code = ANY(%s)")
        params.append(list(filters.districts))
    if filters.statuses:
        where.append("i.status = ANY(%s)")
        params.append(list(filters.statuses))
    open_list = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
    sql = f"""
SELECT i.id, {_iso("i.first_reported_at")},
       {_iso("coalesce(due.at, i.sla_due_at)")},
       {_iso("i.resolved_at")},
       {_iso("CASE WHEN i.status = 'rejected' THEN (SELECT max(u.created_at) "
             "FROM incidents_incidentupdate u WHERE u.incident_id = i.id "
             "AND u.to_status = 'rejected') WHEN i.status = 'closed' THEN i.closed_at END")},
       i.status,
       CASE WHEN i.status IN ({open_list}) THEN 'open' ELSE 'closed' END,
       CASE WHEN k.until_s - k.first_s <= k.budget_s THEN '{ON_TIME}'
            WHEN k.until_s - k.first_s > k.budget_s THEN '{OVERDUE}'
            ELSE '' END,
       coalesce(fr.channel, ''), coalesce(d.code, ''), {_name("d", language)},
       c.code, {_name("c", language)}, dep.code, {_name("dep", language)},
       round(ST_Y(i.location::geometry)::numeric, 4)::text,
       round(ST_X(i.location::geometry)::numeric, 4)::text,
       i.report_count,
       CASE WHEN i.publish_description THEN coalesce(fr.description, '') ELSE '' END
FROM incidents_incident i
     JOIN incidents_category c ON c.id = i.category_id
     JOIN incidents_department dep ON dep.id = i.department_id
     LEFT JOIN rasad_gis_district d ON d.id = i.district_id
     LEFT JOIN incidents_workcalendar w ON w.area_id = i.area_id
     LEFT JOIN LATERAL (
         SELECT rasad_working_seconds_at(w.id, w.timezone, i.first_reported_at) AS first_s,
                c.sla_hours * extract(epoch FROM w.day_ends - w.day_starts)::int / 24
                    AS budget_s,
                -- The clock runs to the resolution, or to now while open (NULL: rejected).
                rasad_working_seconds_at(w.id, w.timezone, CASE
                    WHEN i.status IN ({open_list}) THEN %s::timestamptz
                    WHEN i.status IN ('resolved', 'closed') THEN i.resolved_at END) AS until_s
         OFFSET 0  -- computed once per incident, not again wherever it is used
     ) k ON true
     LEFT JOIN LATERAL (
         -- The moment the working-time budget runs out: in the first working day, from
         -- the day of the first report, whose end reaches it.
         SELECT b.opens_at + make_interval(secs => k.first_s + k.budget_s - b.seconds_before)
                AS at
         FROM incidents_businessday b
         WHERE b.calendar_id = w.id
           AND b.date >= (i.first_reported_at AT TIME ZONE w.timezone)::date
           AND b.opens_at IS NOT NULL
           AND b.seconds_before + extract(epoch FROM b.closes_at - b.opens_at)
               >= k.first_s + k.budget_s
         ORDER BY b.date LIMIT 1
     ) due ON true
     LEFT JOIN LATERAL (
         SELECT r.channel, r.description FROM incidents_report r
         WHERE r.incident_id = i.id ORDER BY r.created_at, r.id LIMIT 1
     ) fr ON true
WHERE {" AND ".join(where)}
ORDER BY i.id
"""
    return sql, [now, *params]


def opendata_calendars_ensure() -> None:
    """Every area's working calendar laid out, so that every row has its SLA clock (the
    rollups' refresh does the same; this covers a city exporting before its first one)."""
    for area in ServiceArea.objects.order_by("pk"):
        business_days_ensure(area=area)


def opendata_chunks(*, filters: OpenDataFilters, language: str = "en",
                    now: datetime | None = None,
                    chunk_rows: int | None = None) -> Iterator[list[tuple]]:
    """The export's rows (COLUMNS, as text and numbers), `chunk_rows` at a time.

    Lazy: nothing is read before the first chunk is asked for. Then one server-side cursor,
    in a transaction held until the last chunk (so the database produces the rows
    as they are fetched rather than all at once), whose rows are fetched chunk by chunk;
    closing the iterator early (a download cut off) ends the transaction."""
    language = language[:2] if language[:2] in LANGUAGES else "en"
    chunk_rows = chunk_rows or settings.RASAD_OPEN_DATA_CHUNK_ROWS
    opendata_calendars_ensure()
    sql, params = _query(filters, language, now or timezone.now())
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Compiling the statement (JIT) takes seconds and saves nothing on row-by-row
            # lookups; for this transaction only.
            cursor.execute("SET LOCAL jit = off")
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(chunk_rows):
                yield rows


# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV
# injection"): a published description that does gets a leading apostrophe in the CSV.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def _description_cell(text: str) -> str:
    return f"'{text}" if text.startswith(FORMULA_START) else text


def csv_stream(chunks: Iterator[list[tuple]]) -> Iterator[bytes]:
    """UTF-8 CSV with a byte-order mark (so spreadsheets read Arabic and Persian right):
    the header, then one piece per chunk of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMN_NAMES)
    yield (BOM + buffer.getvalue()).encode()
    try:
        for rows in chunks:
            buffer.seek(0)
            buffer.truncate()
            writer.writerows((*row[:-1], _description_cell(row[-1])) for row in rows)
            yield buffer.getvalue().encode()
    finally:
        getattr(chunks, "close", lambda: None)()


def licence() -> dict:
    return {"name": settings.RASAD_OPEN_DATA_LICENCE,
            "url": settings.RASAD_OPEN_DATA_LICENCE_URL}


_PROPERTIES = tuple(n for n in COLUMN_NAMES if n not in ("latitude", "longitude"))
_LAT, _LON = COLUMN_NAMES.index("latitude"), COLUMN_NAMES.index("longitude")


def _feature(row: tuple) -> dict:
    values = dict(zip(COLUMN_NAMES, row, strict=True))
    return {"type": "Feature", "id": values["id"],
            "geometry": {"type": "Point",
                         "coordinates": [float(row[_LON]), float(row[_LAT])]},
            "properties": {name: values[name] for name in _PROPERTIES}}


def geojson_stream(chunks: Iterator[list[tuple]], *,
                   generated_at: datetime | None = None) -> Iterator[bytes]:
    """A GeoJSON FeatureCollection (RFC 7946; lon/lat) with the licence as a foreign member,
    written feature by feature."""
    head = {"type": "FeatureCollection", "licence": licence(),
            "generated_at": (generated_at or timezone.now()).astimezone(ZoneInfo("UTC"))
            .strftime("%Y-%m-%dT%H:%M:%SZ")}
    yield (json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [').encode()
    first = True
    try:
        for rows in chunks:
            body = ",\n".join(json.dumps(_feature(row), ensure_ascii=False) for row in rows)
            yield ((",\n" if not first else "\n") + body).encode()
            first = False
    finally:
        getattr(chunks, "close", lambda: None)()
    yield b"\n]}\n"


def column_docs() -> list[dict]:
    """The columns and their meaning in the active language."""
    return [{"name": name, "meaning": str(meaning)} for name, meaning in COLUMNS]


def export_language() -> str:
    language = (translation.get_language() or "en")[:2]
    return language if language in LANGUAGES else "en"
