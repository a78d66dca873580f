"""Working time: SLA clocks run only while the city works (its working hours, not on its
weekend or public holidays, in its own time zone).

Each area's calendar is laid out as one BusinessDay row per date, with the working seconds of
all the days before it; the working time between two moments is then the difference of two
lookups, in SQL (rasad_working_seconds_at, created by migration incidents/0010) as in Python
(working_seconds_between); the moment a working-time budget runs out is one more
(rasad_working_moment, migration incidents/0012)."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from gis.models import ServiceArea
from incidents.models import BusinessDay, WorkCalendar

# How far the laid-out days reach: from this date, and this many days past today.
LAYOUT_START = date(2015, 1, 1)
LAYOUT_AHEAD_DAYS = 3 * 366


def calendar_for(area: ServiceArea) -> WorkCalendar:
    """The area's calendar; made with the city's defaults (RASAD_WORK_* settings) the
    first time."""
    calendar = WorkCalendar.objects.filter(area=area).first()
    if calendar is None:
        calendar, _created = WorkCalendar.objects.get_or_create(area=area, defaults={
            "timezone": settings.RASAD_WORK_TIMEZONE,
            "weekend": list(settings.RASAD_WORK_WEEKEND),
            "day_starts": time.fromisoformat(settings.RASAD_WORK_DAY_STARTS),
            "day_ends": time.fromisoformat(settings.RASAD_WORK_DAY_ENDS)})
    return calendar


def _day_bounds(calendar: WorkCalendar, day: date,
                holidays: set[date]) -> tuple[datetime | None, datetime | None]:
    if day.isoweekday() in calendar.weekend or day in holidays:
        return None, None
    zone = ZoneInfo(calendar.timezone)
    return (datetime.combine(day, calendar.day_starts, zone),
            datetime.combine(day, calendar.day_ends, zone))


@transaction.atomic
def business_days_layout(*, calendar: WorkCalendar, until: date | None = None) -> int:
    """Lay the calendar out again, from LAYOUT_START to `until` (default: well ahead of
    today). Run after the calendar or its holidays change. Returns the days laid out."""
    until = until or (timezone.localdate() + timedelta(days=LAYOUT_AHEAD_DAYS))
    holidays = set(calendar.holidays.values_list("date", flat=True))
    rows, before, day = [], 0, LAYOUT_START
    while day <= until:
        opens, closes = _day_bounds(calendar, day, holidays)
        after = before + (int((closes - opens).total_seconds()) if opens is not None else 0)
        rows.append(BusinessDay(calendar=calendar, date=day, opens_at=opens, closes_at=closes,
                                seconds_before=before, seconds_after=after))
        before = after
        day += timedelta(days=1)
    BusinessDay.objects.filter(calendar=calendar).delete()
    BusinessDay.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def business_days_ensure(*, area: ServiceArea) -> WorkCalendar:
    """The area's calendar, laid out far enough ahead (it is extended when today nears
    its end, and laid out the first time)."""
    calendar = calendar_for(area)
    if _laid_out_far_enough(calendar):
        return calendar
    with transaction.atomic():
        # Two first uses at once: the second waits for the first's layout, then finds it.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('rasad:calendar'), %s::int)",
                           [calendar.pk])
        if not _laid_out_far_enough(calendar):
            business_days_layout(calendar=calendar)
    return calendar


def _laid_out_far_enough(calendar: WorkCalendar) -> bool:
    last = (BusinessDay.objects.filter(calendar=calendar).order_by("-date")
            .values_list("date", flat=True).first())
    return last is not None and last >= timezone.localdate() + timedelta(days=30)


def working_seconds_between(calendar: WorkCalendar, start: datetime, end: datetime) -> int:
    """Working seconds from `start` to `end` (0 if end is not after start), in Python: the
    same arithmetic as rasad_working_seconds_at, for checks and small counts."""
    if end <= start:
        return 0
    holidays = set(calendar.holidays.values_list("date", flat=True))
    zone = ZoneInfo(calendar.timezone)
    total, day = 0, start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last:
        opens, closes = _day_bounds(calendar, day, holidays)
        if opens is not None:
            overlap = (min(closes, end) - max(opens, start)).total_seconds()
            total += max(0, int(overlap))
        day += timedelta(days=1)
    return total
