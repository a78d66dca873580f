"""incident_merge and incident_split: reports move, counts and locations follow, history kept."""

from datetime import timedelta

import pytest

from fixtures.factories import CategoryFactory
from incidents.exceptions import Conflict, ValidationFailed
from incidents.models import Incident, IncidentUpdate, Report, Status
from incidents.services import incident_merge, incident_split
from tests.conftest import CENTRE, offset

pytestmark = pytest.mark.django_db

S = Status
FAR = offset(*CENTRE, north_m=500)


def _state() -> list[tuple]:
    """Everything a refused merge or split must leave as it was."""
    incidents = list(Incident.objects.order_by("pk").values_list(
        "pk", "status", "version", "report_count", "merged_into", "location"))
    reports = list(Report.objects.order_by("pk").values_list("pk", "incident", "status"))
    return [incidents, reports, IncidentUpdate.objects.count()]


def _set_status(incident_id: int, status: str) -> None:
    Incident.objects.filter(pk=incident_id).update(status=status)
    Report.objects.filter(incident_id=incident_id).update(status=status)


@pytest.fixture
def two_incidents(category, make_report):
    """A target with two reports at CENTRE and a source with one report 500 m north."""
    a1 = make_report(category)
    a2 = make_report(category, *offset(*CENTRE, east_m=10))
    b1 = make_report(category, *FAR)
    target = Incident.objects.get(pk=a1.incident_id)
    source = Incident.objects.get(pk=b1.incident_id)
    return source, target, [a1, a2, b1]


def test_merge_moves_reports_to_target(two_incidents, dispatcher):
    source, target, reports = two_incidents

    incident_merge(source=source, target=target, by=dispatcher)

    assert sorted(Report.objects.filter(incident=target).values_list("pk", flat=True)) == sorted(
        r.pk for r in reports)
    assert Report.objects.filter(incident=source).count() == 0


def test_merge_marks_source_merged_into_target(two_incidents, dispatcher):
    source, target, _reports = two_incidents

    incident_merge(source=source, target=target, by=dispatcher)

    source.refresh_from_db()
    assert (source.status, source.merged_into_id, source.report_count, source.version) == (
        S.MERGED, target.pk, 0, 2)


def test_merge_recomputes_target_count_location_and_times(two_incidents, dispatcher):
    source, target, reports = two_incidents

    result = incident_merge(source=source, target=target, by=dispatcher)

    result.refresh_from_db()
    assert result.report_count == 3
    assert result.location.x == pytest.approx(sum(r.location.x for r in reports) / 3, abs=1e-9)
    assert result.location.y == pytest.approx(sum(r.location.y for r in reports) / 3, abs=1e-9)
    assert result.first_reported_at == min(r.created_at for r in reports)
    assert result.last_reported_at == max(r.created_at for r in reports)
    assert result.version == target.version + 1


def test_merged_reports_take_the_target_status(two_incidents, dispatcher):
    source, target, _reports = two_incidents
    _set_status(target.pk, S.ASSIGNED)

    incident_merge(source=source, target=target, by=dispatcher)

    assert list(Report.objects.filter(incident=target).values_list("status", flat=True)) == [
        S.ASSIGNED] * 3


def test_merge_records_public_entry_on_source_and_internal_note_on_target(two_incidents,
                                                                          dispatcher):
    source, target, _reports = two_incidents

    incident_merge(source=source, target=target, by=dispatcher)

    on_source = IncidentUpdate.objects.filter(incident=source).latest("pk")
    on_target = IncidentUpdate.objects.filter(incident=target).latest("pk")
    assert (on_source.from_status, on_source.to_status, on_source.by, on_source.public,
            on_source.note) == (S.NEW, S.MERGED, dispatcher, True, f"Merged into #{target.pk}")
    assert (on_target.from_status, on_target.to_status, on_target.by, on_target.public,
            on_target.note) == ("", "", dispatcher, False,
                                f"Merged #{source.pk} into this incident.")


def test_merge_keeps_the_dispatchers_note(two_incidents, dispatcher):
    source, target, _reports = two_incidents

    incident_merge(source=source, target=target, by=dispatcher, note="Same pothole")

    assert IncidentUpdate.objects.filter(incident=source).latest("pk").note == "Same pothole"


def test_merge_into_itself_is_refused_and_changes_nothing(two_incidents, dispatcher):
    source, _target, _reports = two_incidents
    before = _state()

    with pytest.raises(ValidationFailed) as caught:
        incident_merge(source=source, target=source, by=dispatcher)

    assert caught.value.errors == {"target": ["An incident cannot be merged into itself."]}
    assert _state() == before


def test_merge_across_categories_is_refused_and_changes_nothing(category, make_report,
                                                                 dispatcher):
    lights = CategoryFactory(code="streetlight", department=category.department)
    target = Incident.objects.get(pk=make_report(category).incident_id)
    source = Incident.objects.get(pk=make_report(lights, *FAR).incident_id)
    before = _state()

    with pytest.raises(ValidationFailed) as caught:
        incident_merge(source=source, target=target, by=dispatcher)

    assert caught.value.errors == {"target": [
        f"Only incidents of the same category can be merged (#{source.pk} is streetlight, "
        f"#{target.pk} is pothole)."]}
    assert _state() == before


@pytest.mark.parametrize("closed_side", ["source", "target"])
@pytest.mark.parametrize("status", [S.CLOSED, S.RESOLVED, S.REJECTED, S.MERGED])
def test_merge_with_a_finished_incident_is_refused_and_changes_nothing(two_incidents, dispatcher,
                                                                        closed_side, status):
    source, target, _reports = two_incidents
    finished = {"source": source, "target": target}[closed_side]
    _set_status(finished.pk, status)
    before = _state()

    with pytest.raises(Conflict) as caught:
        incident_merge(source=source, target=target, by=dispatcher)

    assert caught.value.message == (f"Incident #{finished.pk} is {status}; only open incidents "
                                    f"can be merged.")
    assert _state() == before


@pytest.mark.parametrize("status", [S.ASSIGNED, S.EN_ROUTE, S.ON_SITE])
def test_merge_of_an_incident_on_a_crews_route_is_refused_and_changes_nothing(two_incidents,
                                                                               dispatcher,
                                                                               status):
    source, target, _reports = two_incidents
    _set_status(source.pk, status)
    before = _state()

    with pytest.raises(Conflict) as caught:
        incident_merge(source=source, target=target, by=dispatcher)

    assert caught.value.message == (f"Incident #{source.pk} is {status}, on a crew's route; "
                                    f"merge the other incident into it instead.")
    assert _state() == before


@pytest.mark.parametrize("status", [S.VERIFIED, S.REOPENED])
def test_merge_of_a_verified_or_reopened_incident_succeeds(two_incidents, dispatcher, status):
    source, target, _reports = two_incidents
    _set_status(source.pk, status)

    incident_merge(source=source, target=target, by=dispatcher)

    source.refresh_from_db()
    assert (source.status, source.merged_into_id) == (S.MERGED, target.pk)
    assert IncidentUpdate.objects.filter(incident=source).latest("pk").from_status == status


@pytest.fixture
def three_reports(category, make_report):
    """One incident of three reports: CENTRE, 5 m east, 10 m north."""
    first = make_report(category)
    second = make_report(category, *offset(*CENTRE, east_m=5))
    third = make_report(category, *offset(*CENTRE, north_m=10))
    return Incident.objects.get(pk=first.incident_id), [first, second, third]


def test_split_creates_new_incident_with_the_chosen_reports(three_reports, dispatcher):
    incident, (_first, _second, third) = three_reports

    new = incident_split(incident=incident, report_ids=[third.pk], by=dispatcher)

    new.refresh_from_db()
    assert new.pk != incident.pk
    assert list(Report.objects.filter(incident=new).values_list("pk", flat=True)) == [third.pk]
    assert (new.category_id, new.status, new.report_count) == (incident.category_id, S.NEW, 1)
    assert (new.location.x, new.location.y) == pytest.approx((third.location.x, third.location.y),
                                                             abs=1e-9)
    assert new.first_reported_at == new.last_reported_at == third.created_at


def test_split_recomputes_the_original_incident(three_reports, dispatcher):
    incident, (first, second, third) = three_reports

    incident_split(incident=incident, report_ids=[third.pk], by=dispatcher)

    incident.refresh_from_db()
    assert sorted(Report.objects.filter(incident=incident).values_list("pk", flat=True)) == [
        first.pk, second.pk]
    assert incident.report_count == 2
    assert incident.location.x == pytest.approx((first.location.x + second.location.x) / 2,
                                                abs=1e-9)
    assert incident.location.y == pytest.approx(first.location.y, abs=1e-9)
    assert incident.last_reported_at == second.created_at


def test_split_of_a_verified_incident_makes_a_verified_one(three_reports, dispatcher):
    incident, (_first, second, third) = three_reports
    _set_status(incident.pk, S.VERIFIED)

    new = incident_split(incident=incident, report_ids=[second.pk, third.pk], by=dispatcher)

    new.refresh_from_db()
    assert (new.status, new.report_count) == (S.VERIFIED, 2)
    assert new.verified_at is not None
    assert list(Report.objects.filter(incident=new).values_list("status", flat=True)) == [
        S.VERIFIED, S.VERIFIED]


def test_split_records_timeline_entries_on_both_incidents(three_reports, dispatcher):
    incident, (_first, _second, third) = three_reports

    new = incident_split(incident=incident, report_ids=[third.pk], by=dispatcher)

    on_new = IncidentUpdate.objects.get(incident=new)
    on_old = IncidentUpdate.objects.filter(incident=incident).latest("pk")
    assert (on_new.from_status, on_new.to_status, on_new.by, on_new.public, on_new.note) == (
        "", S.NEW, dispatcher, True, f"Split from #{incident.pk}")
    assert (on_old.by, on_old.public, on_old.note) == (
        dispatcher, False, f"Reports {third.pk} split off into #{new.pk}.")


def test_split_of_every_report_is_refused_and_changes_nothing(three_reports, dispatcher):
    incident, reports = three_reports
    before = _state()

    with pytest.raises(ValidationFailed) as caught:
        incident_split(incident=incident, report_ids=[r.pk for r in reports], by=dispatcher)

    assert caught.value.errors == {"report_ids": [
        "Leave at least one report in the incident; a split needs reports on both sides."]}
    assert _state() == before


def test_split_of_no_report_is_refused_and_changes_nothing(three_reports, dispatcher):
    incident, _reports = three_reports
    before = _state()

    with pytest.raises(ValidationFailed) as caught:
        incident_split(incident=incident, report_ids=[], by=dispatcher)

    assert caught.value.errors == {"report_ids": ["Choose at least one report to split off."]}
    assert _state() == before


def test_split_of_another_incidents_report_is_refused_and_changes_nothing(three_reports,
                                                                          category, make_report,
                                                                          dispatcher):
    incident, (first, _second, _third) = three_reports
    foreign = make_report(category, *FAR)
    before = _state()

    with pytest.raises(ValidationFailed) as caught:
        incident_split(incident=incident, report_ids=[first.pk, foreign.pk, 987654],
                       by=dispatcher)

    assert caught.value.errors == {"report_ids": [
        f"Reports {foreign.pk}, 987654 are not in incident #{incident.pk}."]}
    assert _state() == before


@pytest.mark.parametrize("status", [S.CLOSED, S.RESOLVED, S.REJECTED, S.MERGED])
def test_split_of_a_finished_incident_is_refused_and_changes_nothing(three_reports, dispatcher,
                                                                     status):
    incident, (_first, _second, third) = three_reports
    _set_status(incident.pk, status)
    before = _state()

    with pytest.raises(Conflict) as caught:
        incident_split(incident=incident, report_ids=[third.pk], by=dispatcher)

    assert caught.value.message == (f"Incident #{incident.pk} is {status}; only open incidents "
                                    f"can be split.")
    assert _state() == before


def test_merge_of_an_older_incident_moves_the_sla_to_its_first_report(category, make_report,
                                                                      dispatcher):
    older = make_report(category, *FAR)
    newer = make_report(category)
    Report.objects.filter(pk=older.pk).update(created_at=older.created_at - timedelta(hours=10))
    source = Incident.objects.get(pk=older.incident_id)
    target = Incident.objects.get(pk=newer.incident_id)

    incident_merge(source=source, target=target, by=dispatcher)

    target.refresh_from_db()
    first = older.created_at - timedelta(hours=10)
    assert (target.first_reported_at, target.sla_due_at) == (
        first, first + timedelta(hours=category.sla_hours))


def test_split_gives_the_new_incident_an_sla_from_its_own_first_report(three_reports,
                                                                        category, dispatcher):
    incident, (_first, _second, third) = three_reports
    Report.objects.filter(pk=third.pk).update(created_at=third.created_at + timedelta(hours=5))

    new = incident_split(incident=incident, report_ids=[third.pk], by=dispatcher)

    new.refresh_from_db()
    assert new.sla_due_at == third.created_at + timedelta(hours=5 + category.sla_hours)
