"""incidents_recluster: open incidents of one category that drifted together are merged."""

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point

from fixtures.factories import CategoryFactory
from incidents.models import Incident, IncidentUpdate, Report, Status
from incidents.services import incidents_recluster
from tests.conftest import CENTRE, offset

pytestmark = pytest.mark.django_db

S = Status


def _move(incident_id: int, lon: float, lat: float) -> None:
    Incident.objects.filter(pk=incident_id).update(location=Point(lon, lat, srid=4326))


def _state() -> list:
    return [list(Incident.objects.order_by("pk").values_list("pk", "status", "report_count",
                                                             "version")),
            list(Report.objects.order_by("pk").values_list("pk", "incident")),
            IncidentUpdate.objects.count()]


@pytest.fixture
def drifted_pair(category, make_report):
    """Two incidents of the pothole category (radius 30 m), 20 m apart.

    Reports 40 m apart start two incidents; the second incident's location is then moved to
    20 m from the first, as when its mean drifts while reports arrive.
    """
    a = make_report(category)
    b = make_report(category, *offset(*CENTRE, east_m=40))
    assert a.incident_id != b.incident_id
    _move(b.incident_id, *offset(*CENTRE, east_m=20))
    return Incident.objects.get(pk=a.incident_id), Incident.objects.get(pk=b.incident_id)


def test_incidents_20_m_apart_are_merged(drifted_pair):
    first, second = drifted_pair

    result = incidents_recluster()

    assert (result.groups, result.merged) == (1, 1)
    assert list(Incident.objects.exclude(status=S.MERGED).values_list("pk", "report_count")) == [
        (first.pk, 2)]
    assert set(Report.objects.values_list("incident", flat=True)) == {first.pk}
    assert Incident.objects.get(pk=second.pk).merged_into_id == first.pk


def test_keeper_is_the_incident_with_more_reports(drifted_pair, category, make_report):
    first, second = drifted_pair
    make_report(category, *offset(*CENTRE, east_m=45))  # joins `second`, now two reports
    _move(second.pk, *offset(*CENTRE, east_m=20))

    incidents_recluster()

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.merged_into_id) == (S.MERGED, second.pk)
    assert (second.status, second.report_count) == (S.NEW, 3)


def test_with_equal_counts_the_older_incident_is_kept(drifted_pair):
    first, second = drifted_pair

    incidents_recluster()

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.report_count) == (S.NEW, 2)
    assert (second.status, second.merged_into_id) == (S.MERGED, first.pk)


def test_automatic_merge_is_recorded_without_a_person(drifted_pair):
    first, second = drifted_pair

    incidents_recluster()

    update = IncidentUpdate.objects.filter(incident=second).latest("pk")
    assert (update.from_status, update.to_status, update.by, update.note) == (
        S.NEW, S.MERGED, None,
        f"Merged automatically: the same problem was reported as #{first.pk} and #{second.pk}.")


def test_incidents_500_m_apart_are_not_merged(category, make_report):
    make_report(category)
    make_report(category, *offset(*CENTRE, north_m=500))
    before = _state()

    result = incidents_recluster()

    assert (result.groups, result.merged) == (0, 0)
    assert _state() == before


def test_incidents_40_m_apart_are_not_merged_with_a_30_m_radius(category, make_report):
    make_report(category)
    make_report(category, *offset(*CENTRE, east_m=40))
    before = _state()

    result = incidents_recluster()

    assert (result.groups, result.merged) == (0, 0)
    assert _state() == before


def test_raising_the_category_radius_merges_incidents_it_now_covers(category, make_report):
    make_report(category)
    make_report(category, *offset(*CENTRE, east_m=40))
    category.cluster_radius_m = 60
    category.save(update_fields=["cluster_radius_m"])

    result = incidents_recluster()

    assert (result.groups, result.merged) == (1, 1)
    assert Incident.objects.filter(status=S.MERGED).count() == 1


@pytest.mark.parametrize("status", [S.ASSIGNED, S.EN_ROUTE, S.ON_SITE, S.RESOLVED, S.CLOSED,
                                    S.REJECTED])
def test_incident_already_with_a_crew_or_finished_is_not_merged(drifted_pair, status):
    _first, second = drifted_pair
    Incident.objects.filter(pk=second.pk).update(status=status)
    before = _state()

    result = incidents_recluster()

    assert (result.groups, result.merged) == (0, 0)
    assert _state() == before


@pytest.mark.parametrize("status", [S.VERIFIED, S.REOPENED])
def test_verified_and_reopened_incidents_are_clusterable(drifted_pair, status):
    _first, second = drifted_pair
    Incident.objects.filter(pk=second.pk).update(status=status)

    result = incidents_recluster()

    assert (result.groups, result.merged) == (1, 1)


def test_incidents_of_different_categories_are_not_merged(category, make_report):
    lights = CategoryFactory(code="streetlight", department=category.department,
                             cluster_radius_m=30)
    make_report(category)
    make_report(lights, *offset(*CENTRE, east_m=10))
    before = _state()

    result = incidents_recluster()

    assert (result.groups, result.merged) == (0, 0)
    assert _state() == before


def test_incident_outside_the_time_window_is_not_merged(drifted_pair, category):
    _first, second = drifted_pair
    Incident.objects.filter(pk=second.pk).update(
        last_reported_at=second.last_reported_at - timedelta(hours=category.cluster_window_hours
                                                             + 1))
    before = _state()

    result = incidents_recluster()

    assert (result.groups, result.merged) == (0, 0)
    assert _state() == before


def test_three_close_incidents_merge_into_one(category, make_report):
    a = make_report(category)
    b = make_report(category, *offset(*CENTRE, east_m=40))
    c = make_report(category, *offset(*CENTRE, north_m=40))
    _move(b.incident_id, *offset(*CENTRE, east_m=15))
    _move(c.incident_id, *offset(*CENTRE, north_m=15))

    result = incidents_recluster()

    assert (result.groups, result.merged) == (1, 2)
    assert list(Incident.objects.exclude(status=S.MERGED).values_list("pk", "report_count")) == [
        (a.incident_id, 3)]


def test_a_chain_of_incidents_is_not_merged_beyond_the_radius(category, make_report):
    # Four potholes along a road, 25 m apart: each is within 30 m of the next one only.
    reports = [make_report(category, *offset(*CENTRE, east_m=40 * i)) for i in range(4)]
    for i, report in enumerate(reports):
        _move(report.incident_id, *offset(*CENTRE, east_m=25 * i))

    result = incidents_recluster()

    assert (result.groups, result.merged) == (1, 1)
    assert list(Incident.objects.order_by("pk").values_list("status", "merged_into")) == [
        (S.NEW, None), (S.MERGED, reports[0].incident_id), (S.NEW, None), (S.NEW, None)]


def test_second_run_finds_nothing_more(drifted_pair):
    incidents_recluster()
    before = _state()

    result = incidents_recluster()

    assert (result.groups, result.merged) == (0, 0)
    assert _state() == before
