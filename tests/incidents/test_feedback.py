"""Citizens confirm a fix or reopen it with their tracking code."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Incident, Status
from incidents.services import incident_transition

pytestmark = pytest.mark.django_db


@pytest.fixture
def resolved(category, make_report, dispatcher):
    report = make_report(category, reporter_email="a@example.org")
    incident = report.incident
    for to in (Status.VERIFIED, Status.ASSIGNED, Status.ON_SITE, Status.RESOLVED):
        incident = incident_transition(incident=incident, to=to, by=dispatcher)
    return report, incident


def test_confirming_the_fix_closes_the_incident(api_client, resolved):
    report, incident = resolved

    response = api_client.post(f"/api/v1/track/{report.tracking_code}/confirm/")

    assert response.status_code == 200
    assert Incident.objects.get(pk=incident.pk).status == Status.CLOSED


def test_reopening_sends_it_back_to_dispatch_with_priority_raised(api_client, resolved):
    report, incident = resolved

    response = api_client.post(f"/api/v1/track/{report.tracking_code.lower()}/reopen/",
                               {"reason": "Still a hole"}, format="json")

    assert response.status_code == 200
    reopened = Incident.objects.get(pk=incident.pk)
    assert reopened.status == Status.REOPENED
    assert reopened.priority == incident.priority + 10
    assert reopened.updates.last().note == "Reopened by the reporter: Still a hole"


def test_reopening_after_the_window_is_refused(api_client, resolved, settings):
    settings.RASAD_REOPEN_DAYS = 14
    report, incident = resolved
    Incident.objects.filter(pk=incident.pk).update(
        resolved_at=timezone.now() - timedelta(days=15))

    response = api_client.post(f"/api/v1/track/{report.tracking_code}/reopen/",
                               {"reason": "Still a hole"}, format="json")

    assert response.status_code == 409
    assert "more than 14 days" in response.json()["detail"]
    assert Incident.objects.get(pk=incident.pk).status == Status.RESOLVED


def test_reopening_needs_a_reason(api_client, resolved):
    report, incident = resolved

    response = api_client.post(f"/api/v1/track/{report.tracking_code}/reopen/", {},
                               format="json")

    assert response.status_code == 400
    assert Incident.objects.get(pk=incident.pk).status == Status.RESOLVED


def test_an_open_problem_cannot_be_confirmed_or_reopened(api_client, category, make_report):
    report = make_report(category)

    confirm = api_client.post(f"/api/v1/track/{report.tracking_code}/confirm/")
    reopen = api_client.post(f"/api/v1/track/{report.tracking_code}/reopen/",
                             {"reason": "x"}, format="json")

    assert (confirm.status_code, reopen.status_code) == (409, 409)
    assert Incident.objects.get(pk=report.incident_id).status == Status.NEW


def test_unknown_code_is_404(api_client):
    response = api_client.post("/api/v1/track/ZZZZ-ZZZZ/confirm/")

    assert response.status_code == 404
