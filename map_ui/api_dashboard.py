"""The manager dashboard's data in one answer: `GET /api/v1/dashboard/`.

Every figure comes from the rollups through incidents.stats.figures (KPIs for the period and
the period before, the trend, the rankings of departments and districts, the backlog per
district); only the "slowest open incidents" read the incidents table, two queries with a
LIMIT. The number of queries is the same whatever the data and the period.

Who sees what: managers and admins every department (or those they ask for); a dispatcher
only their own departments, and asking for another department is refused (403), so a
shared link never silently shows a dispatcher a smaller figure than its author saw.

The figures only change when the rollups are refreshed, so a whole answer (less the live
list of slow incidents) is cached under the area's watermark for
RASAD_DASHBOARD_CACHE_S seconds (default 300; 0 turns the cache off).
"""

import hashlib
import json
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from gis.models import District, ServiceArea
from incidents.models import (
    OPEN_STATUSES,
    Category,
    Channel,
    Department,
    Incident,
    Report,
    StatsWatermark,
    WorkCalendar,
)
from incidents.stats import figures
from ops.roles import Role, user_has_role

# The longest period one request may ask for: three years (and a leap day).
MAX_PERIOD_DAYS = 3 * 365 + 1
DEFAULT_LAST_DAYS = 30
SLOWEST_LIMIT = 10
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def dashboard_scope(user) -> tuple[int, ...] | None:
    """The departments whose figures the user may see: None (all) for managers and admins,
    a dispatcher's own otherwise."""
    if user_has_role(user, Role.MANAGER):  # superusers pass every role check
        return None
    return tuple(sorted(user.departments.values_list("pk", flat=True)))


class IsDashboardUser(BasePermission):
    message = gettext_lazy("Only managers, administrators and dispatchers may see the "
                           "dashboard.")

    def has_permission(self, request, view) -> bool:
        return user_has_role(request.user, Role.MANAGER, Role.DISPATCHER)


def _codes(value: str) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))


class DashboardInput(serializers.Serializer):
    """The period is one of: `month` (YYYY-MM), `year`, `from` and `to` (dates, both
    included), or `last` days up to today (the default, 30). Filters are comma-separated
    codes."""

    month = serializers.CharField(required=False, help_text="YYYY-MM, e.g. 2026-11.")
    year = serializers.IntegerField(required=False, min_value=2000, max_value=2100)
    start = serializers.DateField(required=False, help_text="First day (YYYY-MM-DD).")
    to = serializers.DateField(required=False, help_text="Last day (YYYY-MM-DD), included.")
    last = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PERIOD_DAYS,
                                    help_text="The last N days up to today.")
    department = serializers.CharField(required=False, allow_blank=True)
    category = serializers.CharField(required=False, allow_blank=True)
    district = serializers.CharField(required=False, allow_blank=True)
    channel = serializers.CharField(required=False, allow_blank=True)
    area = serializers.SlugField(required=False, help_text="The service area's slug; the "
                                                           "first area by default.")

    def get_fields(self):
        # `from` is a Python keyword: declared as `start`, read and written as `from`.
        fields = super().get_fields()
        fields["from"] = fields.pop("start")
        return fields

    def validate_month(self, value: str) -> tuple[int, int]:
        match = _MONTH.match(value.strip())
        if not match or not 1 <= int(match[2]) <= 12 or not 2000 <= int(match[1]) <= 2100:
            raise serializers.ValidationError(
                _("Unknown month %(value)s; write it as YYYY-MM, like 2026-11.")
                % {"value": value})
        return int(match[1]), int(match[2])

    @staticmethod
    def _known(value: str, known: dict, message: str) -> tuple:
        """The ids of the codes; `message` names the unknown ones and what is allowed."""
        codes = _codes(value)
        bad = [c for c in codes if c not in known]
        if bad:
            raise serializers.ValidationError(
                message % {"bad": ", ".join(bad), "allowed": ", ".join(sorted(known))})
        return tuple(known[c] for c in codes)

    def validate_department(self, value: str) -> tuple:
        return self._known(value, self.context["departments"],
                           _("Unknown department %(bad)s; use: %(allowed)s."))

    def validate_category(self, value: str) -> tuple:
        return self._known(value, self.context["categories"],
                           _("Unknown category %(bad)s; use: %(allowed)s."))

    def validate_district(self, value: str) -> tuple:
        return self._known(value, self.context["districts"],
                           _("Unknown district %(bad)s; use: %(allowed)s."))

    def validate_channel(self, value: str) -> tuple:
        return self._known(value, {c: c for c in Channel.values},
                           _("Unknown channel %(bad)s; use: %(allowed)s."))

    def validate(self, attrs: dict) -> dict:
        kinds = [k for k in ("month", "year", "last") if k in attrs]
        if "from" in attrs or "to" in attrs:
            kinds.append("range")
        if len(kinds) > 1:
            raise serializers.ValidationError(
                _("Give one period: a month, a year, from and to, or the last days."))
        today = self.context["today"]
        kind = kinds[0] if kinds else "last"
        if kind == "month":
            period = figures.month_period(*attrs["month"])
        elif kind == "year":
            period = figures.Period(date(attrs["year"], 1, 1), date(attrs["year"], 12, 31))
        elif kind == "range":
            if "from" not in attrs or "to" not in attrs:
                raise serializers.ValidationError(
                    {"from" if "from" not in attrs else "to":
                     [_("A custom period needs both its first and its last day.")]})
            if attrs["to"] < attrs["from"]:
                raise serializers.ValidationError(
                    {"to": [_("The last day comes before the first.")]})
            period = figures.Period(attrs["from"], attrs["to"])
        else:
            days = attrs.get("last", DEFAULT_LAST_DAYS)
            period = figures.Period(today - timedelta(days=days - 1), today)
        if period.days > MAX_PERIOD_DAYS:
            raise serializers.ValidationError(
                _("A period of %(days)s days is too long: at most %(max)s days (three "
                  "years).") % {"days": period.days, "max": MAX_PERIOD_DAYS})
        attrs["kind"], attrs["period"] = kind, period
        return attrs


def _to_date(period: figures.Period, today: date) -> tuple[figures.Period, figures.Period]:
    """The part of the period up to today, and the same stretch of the period before (the
    1st–15th of last month against the 1st–15th of this one), so that a month or a year
    under way is compared like with like. A past period is compared whole."""
    previous = period.previous()
    if period.last <= today or period.first > today:
        return period, previous
    current = figures.Period(period.first, today)
    return current, figures.Period(previous.first,
                                   min(previous.last,
                                       previous.first + timedelta(days=current.days - 1)))


def _buckets(period: figures.Period, step: str) -> list[date]:
    """Every bucket start of the period (as date_trunc makes them), empty ones included."""
    if step == "day":
        return [period.first + timedelta(days=n) for n in range(period.days)]
    if step == "week":
        start = period.first - timedelta(days=period.first.weekday())
        return [start + timedelta(weeks=n)
                for n in range((period.last - start).days // 7 + 1)]
    starts, day = [], period.first.replace(day=1)
    while day <= period.last:
        starts.append(day)
        day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return starts


def _stamp(day: date, zone: ZoneInfo) -> str:
    return datetime.combine(day, time(0), zone).isoformat()


def _trend(area_id: int, period: figures.Period, filters: figures.Filters,
           zone: ZoneInfo) -> dict:
    """The trend with a point for every bucket (empty ones too), each with the moments it
    starts and ends (within the period) for links to its incidents."""
    step = "day" if period.days <= 62 else "week" if period.days <= 190 else "month"
    rows = {r["start"]: r for r in figures.trend(area_id=area_id, period=period,
                                                  filters=filters, step=step)}
    empty = {"reports": 0, "incidents_opened": 0, "resolutions": 0, "on_time_share": None,
             "resolve_h_median": None}
    starts = _buckets(period, step)
    points = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else period.last + timedelta(days=1)
        point = rows.get(start.isoformat(), {"start": start.isoformat(), **empty})
        point["starts_at"] = _stamp(max(start, period.first), zone)
        point["ends_at"] = _stamp(min(end, period.last + timedelta(days=1)), zone)
        points.append(point)
    return {"step": step, "points": points}


def _ranking(area_id: int, period: figures.Period, filters: figures.Filters, by: str,
             codes: dict) -> list[dict]:
    rows = figures.ranking(area_id=area_id, period=period, filters=filters, by=by)
    for row in rows:
        row["code"] = codes.get(row["id"])
    return rows


def _figures(*, area: ServiceArea, zone: ZoneInfo, today: date, kind: str,
             period: figures.Period, filters: figures.Filters, lookups: dict) -> dict:
    """Everything but the live list: from the rollups only."""
    current, previous = _to_date(period, today)
    as_of = min(current.last, today)
    previous_as_of = min(previous.last, today)
    backlog = figures.backlog(area_id=area.pk, day=as_of, filters=filters)
    previous_backlog = figures.backlog(area_id=area.pk, day=previous_as_of, filters=filters)
    by_district = figures.backlog_grouped(area_id=area.pk, day=as_of, filters=filters,
                                          by="district")
    districts = _ranking(area.pk, period, filters, "district", lookups["district_codes"])
    choropleth = {}
    for row in districts:
        if row["code"]:
            choropleth[row["code"]] = {"on_time_share": row["on_time_share"],
                                       "resolutions": row["resolutions"],
                                       "incidents_opened": row["incidents_opened"]}
    for district_id, counts in by_district.items():
        code = lookups["district_codes"].get(district_id)
        if code:
            choropleth.setdefault(code, {"on_time_share": None, "resolutions": 0,
                                         "incidents_opened": 0}).update(counts)
    for values in choropleth.values():
        values.setdefault("open", 0)
        values.setdefault("overdue", 0)
    return {
        "period": {"kind": kind, "first": period.first.isoformat(),
                   "last": period.last.isoformat(), "days": period.days,
                   "to_date": current.last.isoformat(), "as_of": as_of.isoformat(),
                   "starts_at": _stamp(current.first, zone),
                   "ends_at": _stamp(current.last + timedelta(days=1), zone),
                   "month": (f"{period.first:%Y-%m}" if kind == "month" else None)},
        "previous": {"first": previous.first.isoformat(), "last": previous.last.isoformat(),
                     "as_of": previous_as_of.isoformat(),
                     "starts_at": _stamp(previous.first, zone),
                     "ends_at": _stamp(previous.last + timedelta(days=1), zone)},
        "totals": figures.totals(area_id=area.pk, period=current, filters=filters),
        "previous_totals": figures.totals(area_id=area.pk, period=previous, filters=filters),
        "backlog": backlog,
        "previous_backlog": previous_backlog,
        "trend": _trend(area.pk, current, filters, zone),
        "ranking": {"department": _ranking(area.pk, period, filters, "department",
                                           lookups["department_codes"]),
                    "district": districts},
        "districts": choropleth,
        "min_cases": settings.RASAD_RANKING_MIN_CASES,
    }


def _slowest(*, area: ServiceArea, filters: figures.Filters, now: datetime,
             lookups: dict) -> dict:
    """The open incidents waiting longest, and those furthest past their SLA: two queries
    with a LIMIT (the only reads outside the rollups). A channel filter keeps incidents with
    a report from that channel, as the console's does."""
    queryset = Incident.objects.filter(area=area, status__in=OPEN_STATUSES)
    if filters.departments is not None:
        queryset = queryset.filter(department_id__in=filters.departments)
    if filters.categories:
        queryset = queryset.filter(category_id__in=filters.categories)
    if filters.districts:
        queryset = queryset.filter(district_id__in=filters.districts)
    if filters.channels:
        queryset = queryset.filter(Exists(Report.objects.filter(
            incident=OuterRef("pk"), channel__in=filters.channels)))
    fields = ("pk", "status", "category_id", "district_id", "priority", "report_count",
              "first_reported_at", "sla_due_at")

    def rows(qs) -> list[dict]:
        return [{"id": r["pk"], "status": r["status"],
                 "category": lookups["category_codes"].get(r["category_id"]),
                 "category_name": lookups["category_names"].get(r["category_id"], ""),
                 "district": lookups["district_codes"].get(r["district_id"]),
                 "district_name": lookups["district_names"].get(r["district_id"], ""),
                 "priority": r["priority"], "report_count": r["report_count"],
                 "first_reported_at": r["first_reported_at"].isoformat(),
                 "sla_due_at": r["sla_due_at"].isoformat() if r["sla_due_at"] else None,
                 "age_h": round((now - r["first_reported_at"]).total_seconds() / 3600, 1),
                 "overdue_h": (round((now - r["sla_due_at"]).total_seconds() / 3600, 1)
                               if r["sla_due_at"] and r["sla_due_at"] < now else 0)}
                for r in qs.values(*fields)[:SLOWEST_LIMIT]]

    return {"oldest": rows(queryset.order_by("first_reported_at", "pk")),
            "overdue": rows(queryset.filter(sla_due_at__lt=now)
                            .order_by("sla_due_at", "pk"))}


def _lookups(language: str) -> dict:
    """Codes and names of the departments, categories and districts (three queries)."""
    departments = list(Department.objects.order_by("code"))
    categories = list(Category.objects.order_by("code"))
    districts = list(District.objects.order_by("code"))
    return {
        "departments": {d.code: d.pk for d in departments},
        "department_codes": {d.pk: d.code for d in departments},
        "department_names": {d.pk: d.name_in(language) for d in departments},
        "categories": {c.code: c.pk for c in categories},
        "category_codes": {c.pk: c.code for c in categories},
        "category_names": {c.pk: c.name_in(language) for c in categories},
        "districts": {d.code: d.pk for d in districts},
        "district_codes": {d.pk: d.code for d in districts},
        "district_names": {d.pk: d.name_in(language) for d in districts},
    }


def _cache_key(area: ServiceArea, mark: datetime | None, scope: tuple | None, data: dict,
               today: date) -> str:
    body = json.dumps([area.pk, mark.isoformat() if mark else None, scope,
                       today.isoformat(), data["kind"], data["period"].first.isoformat(),
                       data["period"].last.isoformat(),
                       [data.get(k, ()) for k in ("department", "category", "district",
                                                  "channel")]], default=str)
    return "rasad:dashboard:" + hashlib.sha256(body.encode()).hexdigest()


def _figures_cached(*, area: ServiceArea, zone: ZoneInfo, today: date, mark: datetime | None,
                    data: dict, filters: figures.Filters, lookups: dict) -> dict:
    """The figures from the cache (under the rollups' watermark) or computed and cached."""
    ttl = settings.RASAD_DASHBOARD_CACHE_S
    key = _cache_key(area, mark, filters.departments, data, today)
    body = cache.get(key) if ttl > 0 else None
    if body is None:
        body = _figures(area=area, zone=zone, today=today, kind=data["kind"],
                        period=data["period"], filters=filters, lookups=lookups)
        if ttl > 0:
            cache.set(key, body, ttl)
    return body


def dashboard_cache_warm(*, area: ServiceArea) -> int:
    """Compute the views managers open first (the last 30 days, this month, last month,
    this year; every department) into the cache, right after a refresh of the rollups, so
    that nobody waits for them. Returns the views computed."""
    if settings.RASAD_DASHBOARD_CACHE_S <= 0:
        return 0
    calendar = WorkCalendar.objects.filter(area=area).first()
    zone = ZoneInfo(calendar.timezone if calendar else settings.RASAD_WORK_TIMEZONE)
    today = timezone.now().astimezone(zone).date()
    mark = StatsWatermark.objects.filter(area=area).values_list("refreshed_to",
                                                                flat=True).first()
    before = today.replace(day=1) - timedelta(days=1)
    views = [("last", figures.Period(today - timedelta(days=DEFAULT_LAST_DAYS - 1), today)),
             ("month", figures.month_period(today.year, today.month)),
             ("month", figures.month_period(before.year, before.month)),
             ("year", figures.Period(date(today.year, 1, 1), date(today.year, 12, 31)))]
    lookups = _lookups(settings.LANGUAGE_CODE)
    for kind, period in views:
        _figures_cached(area=area, zone=zone, today=today, mark=mark,
                        data={"kind": kind, "period": period}, filters=figures.Filters(),
                        lookups=lookups)
    return len(views)


class DashboardApi(APIView):
    """The dashboard's figures for a period and filters, in one answer."""

    permission_classes = [IsDashboardUser]

    @extend_schema(parameters=[DashboardInput], responses=OpenApiTypes.OBJECT,
                   summary="Manager dashboard: KPIs, trend, rankings, district map, slowest "
                           "open incidents")
    def get(self, request):
        language = translation.get_language() or settings.LANGUAGE_CODE
        areas = ServiceArea.objects.order_by("pk")
        if request.query_params.get("area"):
            areas = areas.filter(slug=request.query_params["area"])
        area = areas.first()
        if area is None:
            raise serializers.ValidationError({"area": [_("No such service area.")]})
        calendar = WorkCalendar.objects.filter(area=area).first()
        zone = ZoneInfo(calendar.timezone if calendar else settings.RASAD_WORK_TIMEZONE)
        now = timezone.now()
        today = now.astimezone(zone).date()
        lookups = _lookups(language)
        params = DashboardInput(data=request.query_params,
                                context={"today": today, **lookups})
        params.is_valid(raise_exception=True)
        data = params.validated_data

        scope = dashboard_scope(request.user)
        departments = data.get("department") or None
        if scope is not None:
            outside = sorted(lookups["department_codes"][d] for d in departments or ()
                             if d not in scope)
            if outside:
                raise PermissionDenied(
                    _("You may see only your departments' figures; not %(codes)s.")
                    % {"codes": ", ".join(outside)})
            departments = departments or scope
        filters = figures.Filters(departments=departments,
                                  categories=data.get("category", ()),
                                  districts=data.get("district", ()),
                                  channels=data.get("channel", ()))

        mark = StatsWatermark.objects.filter(area=area).values_list("refreshed_to",
                                                                    flat=True).first()
        body = _figures_cached(area=area, zone=zone, today=today, mark=mark, data=data,
                               filters=filters, lookups=lookups)
        # The cached figures are the same in every language; the units' names are not.
        for by in ("department", "district"):
            for row in body["ranking"][by]:
                row["name"] = lookups[f"{by}_names"].get(row["id"], row["name"])
        names = lookups["department_codes"]
        body = {
            **body,
            "area": {"slug": area.slug, "name": area.name_in(language),
                     "timezone": str(zone)},
            "today": today.isoformat(),
            "refreshed_to": mark.isoformat() if mark else None,
            "filters": {
                "department": [names[d] for d in data.get("department", ())],
                "category": [lookups["category_codes"][c] for c in data.get("category", ())],
                "district": [lookups["district_codes"][d] for d in data.get("district", ())],
                "channel": list(data.get("channel", ())),
            },
            "scope": {"restricted": scope is not None,
                      "departments": None if scope is None else [names[d] for d in scope]},
            "slowest": _slowest(area=area, filters=filters, now=now, lookups=lookups),
        }
        response = Response(body)
        response["Cache-Control"] = "private, no-store"
        return response
