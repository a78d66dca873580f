"""Reads for storm mode: which mode is active where, what it changes, and its dashboard.

A mode is active while now is in [starts_at, ends_at) and it was not cancelled. Every reader
checks the time itself, so a mode past its end is inactive even before the beat task has
recorded the end.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crews.exceptions import IntakePaused
from crews.models import Crew, CrewPosition, EmergencyMode, Shift
from gis.models import District, ServiceArea
from incidents.models import Category, Incident, Report

# A plow counts as "out" when it sent a position this recently (or is on shift now).
PLOW_SKILL = "plow"
PLOW_RECENT = timedelta(minutes=15)
# Ended and cancelled modes stay in the CAP and Atom feeds this long (their Cancel messages).
FEED_KEEP = timedelta(days=7)


@dataclass(frozen=True)
class ModeSnapshot:
    """What intake and priority need of a mode, kept per process for a few seconds."""

    pk: int
    area_id: int
    starts_at: datetime
    ends_at: datetime
    category_ids: frozenset[int]
    paused_ids: frozenset[int]
    priority_bonus: int

    def active_at(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


_snapshot: tuple[float, list[ModeSnapshot]] | None = None


def storm_cache_clear() -> None:
    global _snapshot
    _snapshot = None


def emergency_mode_list_live(*, now: datetime | None = None) -> QuerySet[EmergencyMode]:
    """Modes not cancelled that have not ended yet (running or still to come)."""
    now = now or timezone.now()
    return (EmergencyMode.objects.filter(cancelled_at__isnull=True, ends_at__gt=now)
            .select_related("area")
            .prefetch_related(Prefetch("categories", Category.objects.order_by("code")),
                              Prefetch("paused_categories", Category.objects.order_by("code")))
            .order_by("starts_at", "pk"))


def emergency_mode_list_active(*, now: datetime | None = None) -> QuerySet[EmergencyMode]:
    now = now or timezone.now()
    return emergency_mode_list_live(now=now).filter(starts_at__lte=now)


def emergency_mode_get_active(*, area: ServiceArea | None = None,
                              now: datetime | None = None) -> EmergencyMode | None:
    """The active mode of an area (of the first area when none is given)."""
    if area is None:
        area = ServiceArea.objects.order_by("pk").first()
        if area is None:
            return None
    return emergency_mode_list_active(now=now).filter(area=area).first()


def _snapshots() -> list[ModeSnapshot]:
    """Live modes, cached per process for RASAD_CATALOGUE_CACHE_S seconds (intake asks on every
    report). The cache holds modes still to come too; the time is checked on each read."""
    global _snapshot
    ttl = settings.RASAD_CATALOGUE_CACHE_S
    clock = time.monotonic()
    if ttl and _snapshot and clock - _snapshot[0] < ttl:
        return _snapshot[1]
    modes = [ModeSnapshot(pk=m.pk, area_id=m.area_id, starts_at=m.starts_at, ends_at=m.ends_at,
                          category_ids=frozenset(c.pk for c in m.categories.all()),
                          paused_ids=frozenset(c.pk for c in m.paused_categories.all()),
                          priority_bonus=m.priority_bonus)
             for m in emergency_mode_list_live()]
    _snapshot = (clock, modes)
    return modes


def storm_modes_active(*, now: datetime | None = None) -> list[ModeSnapshot]:
    now = now or timezone.now()
    return [m for m in _snapshots() if m.active_at(now)]


def storm_priority_bonus(*, area_id: int | None, category_id: int,
                         now: datetime | None = None) -> float:
    """What the active mode of the area adds to the priority of an incident of the category."""
    return float(max((m.priority_bonus for m in storm_modes_active(now=now)
                      if m.area_id == area_id and category_id in m.category_ids), default=0))


def storm_priority_bonuses(*, now: datetime | None = None) -> dict[tuple[int, int], float]:
    """(area id, category id) → bonus, for sweeps over many incidents."""
    bonuses: dict[tuple[int, int], float] = {}
    for mode in storm_modes_active(now=now):
        for category_id in mode.category_ids:
            key = (mode.area_id, category_id)
            bonuses[key] = max(bonuses.get(key, 0.0), float(mode.priority_bonus))
    return bonuses


def storm_mode_pausing(*, category_id: int, lon: float, lat: float,
                       now: datetime | None = None) -> EmergencyMode | None:
    """The active mode that pauses the category at the point, if any. Costs no query unless a
    mode pauses the category somewhere."""
    candidates = [m.pk for m in storm_modes_active(now=now) if category_id in m.paused_ids]
    if not candidates:
        return None
    point = Point(lon, lat, srid=4326)
    return (EmergencyMode.objects.filter(pk__in=candidates, area__boundary__intersects=point)
            .select_related("area").first())


def storm_pause_message(*, mode: EmergencyMode, category: Category) -> str:
    """Why a report of the category is refused, in the active language, with the manager's
    own words when they wrote some."""
    language = translation.get_language() or "en"
    text = _("New reports of “%(category)s” are paused during the %(hazard)s until %(until)s. "
             "Urgent problems can still be reported.") % {
        "category": category.name_in(language), "hazard": mode.get_hazard_display(),
        "until": timezone.localtime(mode.ends_at).strftime("%Y-%m-%d %H:%M")}
    extra = mode.pause_message_in(language)
    return f"{text} {extra}" if extra else text


def storm_intake_check(*, category: Category, lon: float, lat: float) -> None:
    """Raise IntakePaused when an active mode pauses the category at the point (every intake
    channel passes here: incidents.services.intake.report_submit)."""
    mode = storm_mode_pausing(category_id=category.pk, lon=lon, lat=lat)
    if mode is not None:
        raise IntakePaused(storm_pause_message(mode=mode, category=category),
                           field="service_code")


def storm_categories_first(categories: list, *, mode: EmergencyMode | None) -> list:
    """The hazard's categories first (in their given order), then the others."""
    if mode is None:
        return list(categories)
    first = {c.pk for c in mode.categories.all()}
    return ([c for c in categories if c.pk in first] +
            [c for c in categories if c.pk not in first])


def emergency_mode_list_feed(*, now: datetime | None = None) -> QuerySet[EmergencyMode]:
    """Modes for the CAP and Atom feeds: live ones, and those ended or cancelled lately."""
    now = now or timezone.now()
    since = now - FEED_KEEP
    return (EmergencyMode.objects
            .filter(Q(ends_at__gt=since) | Q(cancelled_at__gt=since))
            .select_related("area").prefetch_related("categories")
            .order_by("-updated_at", "-pk"))


@dataclass
class StormDashboard:
    mode: EmergencyMode
    incoming_per_hour: list[dict]
    backlog_by_district: list[dict]
    plows_out: list[dict]


def storm_dashboard(*, mode: EmergencyMode, now: datetime | None = None,
                    hours: int = 12) -> StormDashboard:
    """Incoming reports per hour (the last `hours` hours, empty hours as 0), open incidents by
    district (all and of the hazard's categories), and the plows out: crews with the plow
    skill on shift now or with a position in the last PLOW_RECENT."""
    now = now or timezone.now()
    since = (now - timedelta(hours=hours - 1)).replace(minute=0, second=0, microsecond=0)
    counts = dict(Report.objects.filter(area=mode.area, created_at__gte=since)
                  .annotate(hour=TruncHour("created_at", tzinfo=UTC))
                  .values("hour").annotate(n=Count("pk")).values_list("hour", "n"))
    incoming = [{"hour": since + timedelta(hours=i),
                 "reports": counts.get(since + timedelta(hours=i), 0)} for i in range(hours)]
    hazard_ids = [c.pk for c in mode.categories.all()]
    open_incidents = Incident.objects.open().filter(area=mode.area)
    per_district = {row["district"]: row for row in open_incidents.values("district").annotate(
        total=Count("pk"), hazard=Count("pk", filter=Q(category__in=hazard_ids)))}
    backlog = []
    for district in District.objects.filter(area=mode.area).order_by("code"):
        row = per_district.get(district.pk, {})
        backlog.append({"code": district.code, "name": district.name_in(),
                        "open": row.get("total", 0), "hazard": row.get("hazard", 0)})
    on_shift = Shift.objects.filter(starts_at__lte=now, ends_at__gt=now).values("crew")
    recent = CrewPosition.objects.filter(recorded_at__gte=now - PLOW_RECENT).values("crew")
    plows = (Crew.objects.filter(active=True, skills__contains=[PLOW_SKILL])
             .filter(Q(pk__in=on_shift) | Q(pk__in=recent) |
                     Q(last_position_at__gte=now - PLOW_RECENT))
             .order_by("code"))
    plows_out = [{"code": c.code, "name": c.name, "last_position_at": c.last_position_at}
                 for c in plows]
    return StormDashboard(mode=mode, incoming_per_hour=incoming, backlog_by_district=backlog,
                          plows_out=plows_out)
