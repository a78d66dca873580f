"""The call-taker's desk: the caller by phone number, places by name, and reports taken on
the phone or at a service centre, confirmed to the caller by SMS."""

import pytest

from incidents.models import Notification, Report
from tests.conftest import CENTRE, offset

pytestmark = pytest.mark.django_db
CALLER = "+358401234567"


def test_a_returning_caller_is_found_with_their_open_reports(agent_client, channel_city,
                                                             make_report, street_light):
    mine = make_report(street_light, reporter_phone=CALLER, reporter_name="Layla",
                       channel="phone", language="ar")
    make_report(street_light, *offset(*CENTRE, east_m=500), reporter_phone="+358409999999")

    response = agent_client.get("/api/v1/desk/caller/", {"phone": "+358 40 123 4567"})

    assert response.status_code == 200
    body = response.json()
    assert (body["phone"], body["name"], body["language"]) == (CALLER, "Layla", "ar")
    assert [r["tracking_code"] for r in body["reports"]] == [mine.tracking_code]
    assert [r["tracking_code"] for r in body["open_reports"]] == [mine.tracking_code]


def test_a_new_caller_has_no_history(agent_client, channel_city):
    body = agent_client.get("/api/v1/desk/caller/", {"phone": CALLER}).json()

    assert (body["reports"], body["contacts"], body["name"]) == ([], [], "")


def test_a_bad_number_is_refused_with_how_to_write_it(agent_client, channel_city):
    response = agent_client.get("/api/v1/desk/caller/", {"phone": "12"})

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "“12” is not a valid phone number; write it with the country code, like "
        "+358401234567.")


def test_places_are_found_by_street_name_inside_the_city_only(agent_client, channel_city,
                                                              streets):
    found = agent_client.get("/api/v1/geocode/", {"q": "Simonkatu"}).json()["results"]
    outside = agent_client.get("/api/v1/geocode/", {"q": "35.69, 51.33"}).json()["results"]

    assert [(r["name"], r["kind"], r["district"]) for r in found] == [
        ("Simonkatu", "street", "West")]
    assert outside == []


def test_the_desk_files_a_phone_report_and_the_caller_gets_an_sms_receipt(
        agent_client, agent, channel_city, street_light):
    response = agent_client.post("/api/v1/reports/", {
        "category": "street-light", "lon": CENTRE[0], "lat": CENTRE[1], "channel": "phone",
        "phone": CALLER, "name": "Layla", "language": "ar", "description": "عمود مطفأ"},
        format="json", HTTP_IDEMPOTENCY_KEY="call-1")

    assert response.status_code == 201
    report = Report.objects.get()
    assert (report.channel, report.submitted_by, report.reporter_phone, report.language) == (
        "phone", agent, CALLER, "ar")
    receipt = Notification.objects.get(kind="receipt")
    assert (receipt.channel, receipt.recipient, receipt.report) == ("sms", CALLER, report)
    assert report.tracking_code in receipt.body


def test_a_retried_desk_filing_files_and_confirms_once(agent_client, channel_city,
                                                       street_light):
    body = {"category": "street-light", "lon": CENTRE[0], "lat": CENTRE[1],
            "channel": "service_centre", "phone": CALLER}

    first = agent_client.post("/api/v1/reports/", body, format="json",
                              HTTP_IDEMPOTENCY_KEY="call-2")
    second = agent_client.post("/api/v1/reports/", body, format="json",
                               HTTP_IDEMPOTENCY_KEY="call-2")

    assert (first.status_code, second.status_code) == (201, 200)
    assert Report.objects.count() == 1
    assert Notification.objects.filter(kind="receipt").count() == 1


def test_the_desk_attaches_a_caller_to_an_open_incident(agent_client, agent, channel_city,
                                                        make_report, street_light):
    existing = make_report(street_light)

    response = agent_client.post(f"/api/v1/incidents/{existing.incident_id}/join/", {
        "channel": "phone", "phone": CALLER, "name": "Omid", "language": "fa"}, format="json")

    assert response.status_code == 201
    joined = Report.objects.exclude(pk=existing.pk).get()
    assert (joined.incident_id, joined.joined_existing, joined.channel, joined.submitted_by) == (
        existing.incident_id, True, "phone", agent)
    assert Notification.objects.get(kind="receipt").recipient == CALLER


def test_a_citizen_cannot_claim_the_phone_channel_for_me_too(api_client, channel_city,
                                                             make_report, street_light):
    existing = make_report(street_light)

    response = api_client.post(f"/api/v1/incidents/{existing.incident_id}/join/", {
        "channel": "phone", "phone": CALLER}, format="json")

    assert response.status_code == 400
    assert Report.objects.count() == 1


def test_a_local_number_is_read_in_the_citys_country(agent_client, channel_city, settings,
                                                     make_report, street_light):
    settings.RASAD_PHONE_REGION = "FI"
    mine = make_report(street_light, reporter_phone=CALLER)

    body = agent_client.get("/api/v1/desk/caller/", {"phone": "040 123 4567"}).json()

    assert (body["phone"], [r["tracking_code"] for r in body["reports"]]) == (
        CALLER, [mine.tracking_code])
