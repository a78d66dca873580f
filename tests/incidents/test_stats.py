"""The figures' rollups against figures worked out by hand on a small week: SLA clocks in
working time across a weekend and a holiday, a reopened incident, a merged one counted once,
the backlog at each day's end; and the incremental refresh equal to a full rebuild."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection

from incidents.models import (
    Holiday,
    Incident,
    IncidentUpdate,
    Report,
    StatsBacklog,
    StatsDaily,
    StatsMonthly,
    Status,
    Survey,
)
from incidents.services import incident_merge, incident_transition
from incidents.services.feedback import report_confirm_fix, report_reopen
from incidents.stats.calendar import (
    business_days_layout,
    calendar_for,
    working_seconds_between,
)
from incidents.stats.rollup import stats_rebuild, stats_refresh
from tests.conftest import CENTRE, offset

pytestmark = pytest.mark.django_db

WED, THU, FRI, SAT, SUN, MON, TUE = (date(2026, 10, 7) + timedelta(days=n) for n in range(7))
HOUR = 3600


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


@pytest.fixture
def calendar(city):
    """UTC, Friday and Saturday off, 08:00–16:00, Monday 12 October a holiday."""
    calendar = calendar_for(city)
    calendar.timezone, calendar.weekend = "UTC", [5, 6]
    calendar.day_starts, calendar.day_ends = time(8), time(16)
    calendar.save()
    Holiday.objects.create(calendar=calendar, date=MON, name_en="Holiday")
    business_days_layout(calendar=calendar, until=date(2027, 12, 31))
    return calendar


def _stamp_report(report: Report, when: datetime) -> Report:
    """File it at a known time, as if it had come then (with its incident's first entry)."""
    Report.objects.filter(pk=report.pk).update(created_at=when)
    incident = Incident.objects.get(pk=report.incident_id)
    if incident.report_count == 1:
        Incident.objects.filter(pk=incident.pk).update(first_reported_at=when,
                                                       last_reported_at=when)
        IncidentUpdate.objects.filter(incident=incident, to_status="new").update(
            created_at=when)
    return Report.objects.get(pk=report.pk)


def _move(incident_id: int, to: str, when: datetime, by=None, **kwargs) -> Incident:
    incident = incident_transition(incident=Incident.objects.get(pk=incident_id), to=to,
                                   by=by, **kwargs)
    _last_update_at(incident_id, when)
    return incident


def _last_update_at(incident_id: int, when: datetime) -> None:
    latest = IncidentUpdate.objects.filter(incident_id=incident_id).order_by("-pk").first()
    IncidentUpdate.objects.filter(pk=latest.pk).update(created_at=when)


@pytest.fixture
def week(calendar, category, make_report, dispatcher):
    """The week worked out by hand (times UTC, the pothole SLA 72 h = 3 working days):

    Wed 15:00  C reported (web, west)
    Thu 09:00  B reported (phone, east); 09:30 B rejected
    Thu 10:00  A reported (web, west); 11:00 a second report joins A (WhatsApp)
    Thu 12:00  A verified; 13:00 C merged into A (A's first report is now C's, Wed 15:00)
    Thu 14:00  A assigned
    Sun 09:00  A on site; 10:00 resolved; 12:00 reopened by the reporter
    Sun 13:00  A verified again; 14:00 assigned; Tue 14:00 on site; 15:00 resolved
    Tue 16:00  the reporter confirms the fix; 17:00 answers the survey (4 of 5, fixed)
    """
    far = offset(*CENTRE, east_m=300)
    c = _stamp_report(make_report(category, *far, attributes={}, channel="web"), at(WED, 15))
    b = _stamp_report(make_report(category, 24.95, 60.17, channel="phone"), at(THU, 9))
    _move(b.incident_id, Status.REJECTED, at(THU, 9, 30), by=dispatcher, note="Not ours")
    a1 = make_report(category, channel="web")
    a2 = make_report(category, *offset(*CENTRE, east_m=5), channel="whatsapp")
    assert a2.incident_id == a1.incident_id  # joined while both were recent
    Incident.objects.filter(pk=a1.incident_id).update(report_count=1)
    a1 = _stamp_report(a1, at(THU, 10))
    a2 = _stamp_report(a2, at(THU, 11))
    Incident.objects.filter(pk=a1.incident_id).update(report_count=2,
                                                       last_reported_at=at(THU, 11))
    a = a1.incident_id
    _move(a, Status.VERIFIED, at(THU, 12), by=dispatcher)
    incident_merge(source=Incident.objects.get(pk=c.incident_id),
                   target=Incident.objects.get(pk=a), by=dispatcher)
    IncidentUpdate.objects.filter(incident_id__in=[a, c.incident_id],
                                  created_at__gt=at(SUN, 0)).update(created_at=at(THU, 13))
    _move(a, Status.ASSIGNED, at(THU, 14), by=dispatcher)
    _move(a, Status.ON_SITE, at(SUN, 9), by=dispatcher)
    _move(a, Status.RESOLVED, at(SUN, 10), by=dispatcher)
    report_reopen(report=a1, reason="Still a hole")
    _last_update_at(a, at(SUN, 12))
    _move(a, Status.VERIFIED, at(SUN, 13), by=dispatcher)
    _move(a, Status.ASSIGNED, at(SUN, 14), by=dispatcher)
    _move(a, Status.ON_SITE, at(TUE, 14), by=dispatcher)
    _move(a, Status.RESOLVED, at(TUE, 15), by=dispatcher)
    report_confirm_fix(report=a1)
    _last_update_at(a, at(TUE, 16))
    Survey.objects.create(report=a1, due_at=at(TUE, 16), expires_at=at(TUE, 23),
                          state="answered", answered_at=at(TUE, 17), fixed=True, rating=4)
    return {"a": a, "b": b.incident_id, "c": c.incident_id}


def _daily() -> dict[tuple, dict]:
    rows = {}
    for row in StatsDaily.objects.select_related("district").order_by("day", "pk"):
        key = (row.day, row.district.code if row.district else None, row.channel)
        rows[key] = {k: v for k, v in {
            "reports": row.reports, "opened": row.incidents_opened,
            "first_response": sorted(row.first_response_s), "verify": sorted(row.verify_s),
            "resolve": sorted(row.resolve_s), "in_sla": row.resolved_in_sla,
            "reopened": row.reopened, "confirmed": row.confirmed_fixed,
            "rejected": row.rejected, "answers": row.survey_answers,
            "rating": row.survey_rating_sum, "fixed_yes": row.survey_fixed_yes}.items()
            if v not in (0, [])}
    return rows


def test_working_seconds_skip_the_night_the_weekend_and_holidays(calendar):
    assert working_seconds_between(calendar, at(THU, 15), at(SUN, 9)) == 2 * HOUR
    assert working_seconds_between(calendar, at(SUN, 15), at(TUE, 9)) == 2 * HOUR
    assert working_seconds_between(calendar, at(WED, 15), at(TUE, 15)) == 24 * HOUR
    assert working_seconds_between(calendar, at(SAT, 10), at(SAT, 12)) == 0


@pytest.mark.parametrize(("start", "end"), [
    (at(THU, 15), at(SUN, 9)), (at(WED, 7), at(WED, 20)), (at(SUN, 15), at(TUE, 9)),
    (at(WED, 15), at(TUE, 15)), (at(SAT, 10), at(SAT, 12)), (at(MON, 10), at(MON, 11)),
])
def test_the_database_counts_working_time_as_python_does(calendar, start, end):
    with connection.cursor() as cursor:
        cursor.execute("SELECT rasad_working_seconds_at(%s, %s, %s) "
                       "- rasad_working_seconds_at(%s, %s, %s)",
                       [calendar.pk, "UTC", end, calendar.pk, "UTC", start])
        (seconds,) = cursor.fetchone()

    assert seconds == working_seconds_between(calendar, start, end)


def test_the_days_figures_are_those_worked_out_by_hand(city, week):
    stats_rebuild(area=city, since=WED, now=at(TUE, 23))

    assert _daily() == {
        (WED, "west", "web"): {"reports": 1, "opened": 1},
        (THU, "east", "phone"): {"reports": 1, "opened": 1, "first_response": [1800],
                                 "rejected": 1},
        (THU, "west", "web"): {"reports": 1, "first_response": [21 * HOUR],
                               "verify": [21 * HOUR]},
        (THU, "west", "whatsapp"): {"reports": 1},
        # Wall time Wed 15:00 → Sun 10:00 is 91 h; working time 1 + 8 + 2 = 11 h, within
        # the 24 working hours of three working days.
        (SUN, "west", "web"): {"resolve": [91 * HOUR], "in_sla": 1, "reopened": 1},
        # Wed 15:00 → Tue 15:00: 1 + 8 + 8 + 0 (holiday) + 7 = 24 working hours: in time.
        (TUE, "west", "web"): {"resolve": [144 * HOUR], "in_sla": 1, "confirmed": 1,
                               "answers": 1, "rating": 4, "fixed_yes": 1},
    }


def test_without_the_holiday_the_second_resolution_is_late(city, week, calendar):
    Holiday.objects.all().delete()
    business_days_layout(calendar=calendar, until=date(2027, 12, 31))

    stats_rebuild(area=city, since=WED, now=at(TUE, 23))

    tuesday = _daily()[(TUE, "west", "web")]
    assert (tuesday["resolve"], tuesday.get("in_sla", 0)) == ([144 * HOUR], 0)


def test_the_backlog_at_each_days_end_is_worked_out_by_hand(city, week):
    stats_rebuild(area=city, since=WED, now=at(TUE, 23))

    rows = sorted((r.day, r.district.code, r.age_band, r.open_count, r.overdue_count)
                  for r in StatsBacklog.objects.select_related("district"))
    # C is open at Wednesday's end (9 h old); A from Thursday to Monday (from C's report,
    # Wed 15:00); B was rejected. Never overdue: at most 17 working hours before Tuesday.
    assert rows == [(WED, "west", "0-1d", 1, 0), (THU, "west", "1-3d", 1, 0),
                    (FRI, "west", "1-3d", 1, 0), (SAT, "west", "3-7d", 1, 0),
                    (SUN, "west", "3-7d", 1, 0), (MON, "west", "3-7d", 1, 0)]


def _snapshot() -> tuple:
    daily = sorted((r.day, r.department_id, r.category_id, r.district_id, r.channel,
                    r.reports, r.incidents_opened, sorted(r.first_response_s),
                    sorted(r.verify_s), sorted(r.resolve_s), r.resolved_in_sla, r.reopened,
                    r.confirmed_fixed, r.rejected, r.survey_answers)
                   for r in StatsDaily.objects.all())
    backlog = sorted((r.day, r.department_id, r.category_id, r.district_id, r.age_band,
                      r.open_count, r.overdue_count) for r in StatsBacklog.objects.all())
    monthly = sorted((r.day, r.department_id, r.category_id, r.district_id, r.channel,
                      r.reports, r.incidents_opened, sorted(r.first_response_s),
                      sorted(r.verify_s), sorted(r.resolve_s), r.resolved_in_sla, r.reopened,
                      r.confirmed_fixed, r.rejected, r.survey_answers)
                     for r in StatsMonthly.objects.all())
    return daily, backlog, monthly


def test_an_incremental_refresh_equals_a_full_rebuild(city, category, make_report,
                                                      dispatcher, calendar):
    first = make_report(category, channel="web")
    other = make_report(category, *offset(*CENTRE, east_m=400), channel="sms")
    stats_refresh(area=city)  # the first refresh builds everything

    # changes after it: a merge (which moves a report to another incident and day), a
    # status change, a new report
    incident_transition(incident=first.incident, to=Status.VERIFIED, by=dispatcher)
    incident_merge(source=other.incident, target=first.incident, by=dispatcher)
    make_report(category, *offset(*CENTRE, east_m=900), channel="whatsapp")
    stats_refresh(area=city)
    refreshed = _snapshot()
    stats_rebuild(area=city)

    assert refreshed == _snapshot()
    assert refreshed[0]  # something was counted


def test_the_weeks_totals_are_those_worked_out_by_hand(city, week):
    from incidents.stats.figures import Filters, Period, totals

    stats_rebuild(area=city, since=WED, now=at(TUE, 23))

    figures = totals(area_id=city.pk, period=Period(WED, TUE), filters=Filters())

    assert figures == {
        "reports": 4, "incidents_opened": 2, "responses": 2,
        # first responses 0.5 h (B) and 21 h (A): median 10.75 h, p90 0.5 + 0.9 × 20.5
        "first_response_h_median": 10.75, "first_response_h_p90": 18.95,
        "verify_h_median": 21.0, "verify_h_p90": 21.0,
        # resolutions after 91 h and 144 h
        "resolve_h_median": 117.5, "resolve_h_p90": 138.7,
        "resolutions": 2, "resolved_in_sla": 2, "on_time_share": 1.0,
        "reopened": 1, "reopened_share": 0.5, "confirmed_fixed": 1, "confirmed_share": 0.5,
        "rejected": 1, "survey_answers": 1, "satisfaction": 4.0, "survey_fixed_share": 1.0,
        "reports_per_1000": None}


def test_figures_are_scoped_to_a_department(city, week, department):
    from fixtures.factories import DepartmentFactory
    from incidents.stats.figures import Filters, Period, totals

    stats_rebuild(area=city, since=WED, now=at(TUE, 23))
    other = DepartmentFactory(code="water")

    mine = totals(area_id=city.pk, period=Period(WED, TUE),
                  filters=Filters(departments=(department.pk,)))
    theirs = totals(area_id=city.pk, period=Period(WED, TUE),
                    filters=Filters(departments=(other.pk,)))

    assert (mine["reports"], theirs["reports"], theirs["resolve_h_median"]) == (4, 0, None)


def test_reports_per_thousand_residents_need_every_districts_population(city, week,
                                                                        district,
                                                                        district_east):
    from incidents.stats.figures import Filters, Period, totals

    stats_rebuild(area=city, since=WED, now=at(TUE, 23))
    district.__class__.objects.filter(pk=district.pk).update(population=2000)
    district.__class__.objects.filter(pk=district_east.pk).update(population=2000)

    figures = totals(area_id=city.pk, period=Period(WED, TUE), filters=Filters())
    west = totals(area_id=city.pk, period=Period(WED, TUE),
                  filters=Filters(districts=(district.pk,)))

    assert (figures["reports_per_1000"], west["reports_per_1000"]) == (1.0, 1.5)


def test_the_ranking_lists_small_units_unranked(city, week, settings, district,
                                                district_east):
    from incidents.stats.figures import Filters, Period, ranking

    stats_rebuild(area=city, since=WED, now=at(TUE, 23))
    settings.RASAD_RANKING_MIN_CASES = 2

    rows = ranking(area_id=city.pk, period=Period(WED, TUE), filters=Filters(), by="district")

    assert [(r["name"], r["rank"], r["ranked"], r["on_time_share"]) for r in rows] == [
        ("West", 1, True, 1.0), ("East", None, False, None)]


def test_the_trend_has_one_row_a_day_for_a_week(city, week):
    from incidents.stats.figures import Filters, Period, trend

    stats_rebuild(area=city, since=WED, now=at(TUE, 23))

    rows = trend(area_id=city.pk, period=Period(WED, TUE), filters=Filters())

    assert [(r["start"], r["reports"], r["resolutions"]) for r in rows] == [
        ("2026-10-07", 1, 0), ("2026-10-08", 3, 0), ("2026-10-11", 0, 1),
        ("2026-10-13", 0, 1)]


def test_the_backlog_is_read_at_the_periods_end(city, week):
    from incidents.stats.figures import Filters, backlog

    stats_rebuild(area=city, since=WED, now=at(TUE, 23))

    assert backlog(area_id=city.pk, day=MON, filters=Filters()) == {
        "day": "2026-10-12", "open": 1, "overdue": 0,
        "bands": {"0-1d": 0, "1-3d": 0, "3-7d": 1, "7-30d": 0, "30d+": 0}}
    assert backlog(area_id=city.pk, day=TUE, filters=Filters())["open"] == 0


def test_whole_months_are_read_from_the_monthly_rollup_with_the_same_figures(city, week):
    from incidents.stats.figures import Filters, Period, grouped, totals, trend

    stats_rebuild(area=city, since=WED, now=at(TUE, 23))
    the_week = Period(WED, TUE)
    october = Period(date(2026, 10, 1), date(2026, 10, 31))
    around = Period(date(2026, 9, 20), date(2026, 11, 10))  # October whole, days around it

    month_rows = StatsMonthly.objects.filter(area=city)
    by_month = totals(area_id=city.pk, period=october, filters=Filters())
    by_days = totals(area_id=city.pk, period=the_week, filters=Filters())
    points = trend(area_id=city.pk, period=around, filters=Filters(), step="month")

    assert {r.day for r in month_rows} == {date(2026, 10, 1)}
    assert sum(r.reports for r in month_rows) == 4
    assert sorted(v for r in month_rows for v in r.resolve_s) == [91 * HOUR, 144 * HOUR]
    assert by_month == by_days
    assert totals(area_id=city.pk, period=around, filters=Filters()) == by_days
    assert grouped(area_id=city.pk, period=around, filters=Filters(), by="district") == \
        grouped(area_id=city.pk, period=the_week, filters=Filters(), by="district")
    assert [(p["start"], p["reports"], p["resolutions"], p["resolve_h_median"])
            for p in points] == [("2026-10-01", 4, 2, 117.5)]
