import pytest

from incidents.models import Incident, IncidentUpdate, Report, Status
from tests.conftest import CENTRE, offset

pytestmark = pytest.mark.django_db


def test_two_reports_10_m_apart_join_one_incident(category, make_report):
    first = make_report(category)
    second = make_report(category, *offset(*CENTRE, east_m=10))

    assert second.incident_id == first.incident_id
    incident = Incident.objects.get(pk=first.incident_id)
    assert incident.report_count == 2


def test_two_reports_500_m_apart_start_two_incidents(category, make_report):
    first = make_report(category)
    second = make_report(category, *offset(*CENTRE, north_m=500))

    assert second.incident_id != first.incident_id
    assert Incident.objects.count() == 2


def test_report_outside_time_window_starts_new_incident(category, make_report):
    first = make_report(category)
    Incident.objects.filter(pk=first.incident_id).update(
        last_reported_at=first.created_at - __import__("datetime").timedelta(days=31))

    second = make_report(category, *offset(*CENTRE, east_m=5))

    assert second.incident_id != first.incident_id


def test_new_incident_records_its_first_status(category, make_report):
    report = make_report(category)

    update = IncidentUpdate.objects.get(incident_id=report.incident_id)
    assert (update.from_status, update.to_status, update.public) == ("", Status.NEW, True)
    assert Report.objects.get(pk=report.pk).status == Status.NEW


def test_me_too_on_a_category_with_a_required_question_needs_no_answer(category, make_report):
    from fixtures.factories import CategoryAttributeFactory
    from incidents.services import ReportInput, report_submit

    CategoryAttributeFactory(category=category, code="size", required=True,
                             datatype="singlevaluelist", values=[{"key": "small"}])
    first = make_report(category, attributes={"size": "small"})

    joined = report_submit(data=ReportInput(category_code=category.code, lon=CENTRE[0],
                                            lat=CENTRE[1]), join=first.incident).report

    assert joined.incident_id == first.incident_id
    assert joined.joined_existing is True
