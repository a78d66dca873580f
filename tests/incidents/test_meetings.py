"""Town-hall meetings: a meeting recorded, its needs raised one line at a time (at a place, as
reports with channel `meeting`; or district needs), where each stands afterwards (answered
on the spot, referred, resolved), the summary sent once to the residents who left a contact,
the next meeting of the district opening with the open needs, and bad input refused."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from fixtures.factories import DepartmentFactory
from incidents.models import (
    Agency,
    Incident,
    Meeting,
    MeetingNeed,
    Notification,
    Report,
    Status,
)
from incidents.services import incident_transition
from incidents.services.notify import notification_send
from ops.roles import Role
from tests.conftest import CENTRE, jpeg_bytes, offset, user_with_role

pytestmark = pytest.mark.django_db
API = "/api/v1/meetings/"


@pytest.fixture
def electricity():
    return Agency.objects.create(code="electricity", name_en="Electricity company",
                                 name_ar="شركة الكهرباء", email="cases@power.example.org")


@pytest.fixture
def meeting(agent_client, city, district, department, electricity):
    response = agent_client.post(API, {
        "held_at": "2026-11-20T18:00:00Z", "place": "West community hall",
        "district": "west", "departments": "roads", "agencies": "electricity",
        "attendance": 42, "minutes": "Residents asked about roads and lighting."},
        format="json")
    assert response.status_code == 201, response.content
    return Meeting.objects.get(pk=response.json()["id"])


def _need(client, meeting, **fields):
    return client.post(f"{API}{meeting.pk}/needs/", fields, format="json")


def test_a_meeting_is_recorded_with_who_was_there(meeting, agent_client):
    answer = agent_client.get(f"{API}{meeting.pk}/").json()

    assert (answer["district"], answer["place"], answer["attendance"]) == (
        "west", "West community hall", 42)
    assert [d["code"] for d in answer["departments"]] == ["roads"]
    assert [a["code"] for a in answer["agencies"]] == ["electricity"]
    assert answer["needs"] == []
    assert answer["previous"] is None


def test_a_need_at_a_place_is_filed_as_a_meeting_report(meeting, agent_client, category):
    response = _need(agent_client, meeting, text="Deep hole at the school gate",
                     category="pothole", lon=CENTRE[0], lat=CENTRE[1], name="Huda",
                     email="huda@example.org", language="ar")

    assert response.status_code == 201, response.content
    row = response.json()
    report = Report.objects.get()
    assert (report.channel, report.category.code, report.description, report.language) == (
        "meeting", "pothole", "Deep hole at the school gate", "ar")
    assert (report.reporter_name, report.reporter_email) == ("Huda", "huda@example.org")
    assert (row["kind"], row["tracking_code"], row["incident"]) == (
        "report", report.tracking_code, report.incident_id)
    assert row["stage"] == "open"
    assert "huda" not in str(row).lower()  # the page's rows carry no contact


def test_a_district_need_has_a_status_of_its_own(meeting, agent_client):
    need = _need(agent_client, meeting, text="A new primary school", district_need=True,
                 answered=True, answer="The ministry was asked; the plot is reserved.").json()

    moved = agent_client.post(f"{API}{meeting.pk}/needs/{need['id']}/status/",
                              {"status": "planned"}, format="json")

    assert (need["kind"], need["district"], need["stage"], need["answered"]) == (
        "district", "west", "open", True)
    assert moved.status_code == 200
    assert (moved.json()["status"], moved.json()["status_label"]) == ("planned", "planned")
    assert Report.objects.count() == 0


def test_the_meeting_shows_where_every_need_stands(meeting, agent_client, category,
                                                   dispatcher, electricity):
    fixed = Report.objects.get(tracking_code=_need(
        agent_client, meeting, text="Hole", category="pothole", lon=CENTRE[0],
        lat=CENTRE[1]).json()["tracking_code"])
    referred = Report.objects.get(tracking_code=_need(
        agent_client, meeting, text="Cable hanging low", category="pothole",
        lon=offset(*CENTRE, east_m=400)[0], lat=CENTRE[1]).json()["tracking_code"])
    _need(agent_client, meeting, text="More buses", district_need=True, answered=True)
    for to in (Status.VERIFIED, Status.ASSIGNED, Status.ON_SITE, Status.RESOLVED):
        incident_transition(incident=Incident.objects.get(pk=fixed.incident_id), to=to,
                            by=dispatcher)
    from incidents.services.referrals import incident_refer

    incident_transition(incident=Incident.objects.get(pk=referred.incident_id),
                        to=Status.VERIFIED, by=dispatcher)
    incident_refer(incident=Incident.objects.get(pk=referred.incident_id), agency=electricity,
                   by=dispatcher)

    answer = agent_client.get(f"{API}{meeting.pk}/").json()

    assert [(n["text"], n["stage"]) for n in answer["needs"]] == [
        ("Hole", "resolved"), ("Cable hanging low", "referred"), ("More buses", "open")]
    assert answer["needs"][1]["referred_to"] == "Electricity company"
    assert answer["counts"] == {"raised": 3, "answered": 1, "referred": 1, "resolved": 1}


def test_the_summary_goes_once_to_each_resident_with_a_contact(meeting, agent_client,
                                                               category):
    _need(agent_client, meeting, text="Hole", category="pothole", lon=CENTRE[0],
          lat=CENTRE[1], email="huda@example.org", language="ar")
    _need(agent_client, meeting, text="A park", district_need=True, email="huda@example.org",
          language="ar")
    _need(agent_client, meeting, text="Benches", district_need=True, phone="+358401234567")
    _need(agent_client, meeting, text="Nobody to tell", district_need=True)

    first = agent_client.post(f"{API}{meeting.pk}/summary/send/").json()
    again = agent_client.post(f"{API}{meeting.pk}/summary/send/").json()

    summaries = Notification.objects.filter(kind="meeting").order_by("channel")
    assert (first["queued"], again["queued"]) == (2, 0)
    assert [(n.channel, n.recipient, n.language) for n in summaries] == [
        ("email", "huda@example.org", "ar"), ("sms", "+358401234567", "en")]
    arabic = summaries[0].body
    assert "Hole" in arabic
    assert "A park" in arabic
    assert "Benches" not in arabic
    assert str(meeting.token) in arabic
    assert notification_send(notification_id=summaries[0].pk) == "sent"
    assert mail.outbox[-1].to == ["huda@example.org"]


def test_the_next_meeting_opens_with_the_last_ones_open_needs(meeting, agent_client,
                                                             category):
    _need(agent_client, meeting, text="Hole", category="pothole", lon=CENTRE[0],
          lat=CENTRE[1])
    done = _need(agent_client, meeting, text="Lights", district_need=True).json()
    agent_client.post(f"{API}{meeting.pk}/needs/{done['id']}/status/", {"status": "done"},
                      format="json")

    later = agent_client.post(API, {"held_at": "2027-02-20T18:00:00Z", "place": "Hall",
                                    "district": "west"}, format="json").json()

    assert later["previous"]["id"] == meeting.pk
    assert [n["text"] for n in later["previous"]["open_needs"]] == ["Hole"]


def test_a_photo_of_the_meeting_is_kept_cleaned(meeting, agent_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = agent_client.post(f"{API}{meeting.pk}/photos/", {
        "photo": SimpleUploadedFile("hall.jpg", jpeg_bytes(), content_type="image/jpeg")},
        format="multipart")
    refused = agent_client.post(f"{API}{meeting.pk}/photos/", {
        "photo": SimpleUploadedFile("notes.jpg", b"not a picture", content_type="image/jpeg")},
        format="multipart")

    assert response.status_code == 201
    assert refused.status_code == 400
    assert meeting.photos.count() == 1


@pytest.mark.parametrize(("fields", "field"), [
    ({"category": "pothole", "lon": CENTRE[0], "lat": CENTRE[1]}, "text"),
    ({"text": "Hole", "lon": CENTRE[0], "lat": CENTRE[1]}, "category"),
    ({"text": "Hole", "category": "pothole"}, "location"),
    ({"text": "Hole", "category": "nonsense", "lon": CENTRE[0], "lat": CENTRE[1]},
     "service_code"),
    ({"text": "Hole", "category": "pothole", "lon": 10.0, "lat": 50.0}, "lat"),
    ({"text": "A park", "district_need": True, "phone": "12"}, "resident_phone"),
])
def test_a_need_without_text_category_or_place_is_refused(meeting, agent_client, category,
                                                          fields, field):
    response = _need(agent_client, meeting, **fields)

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert MeetingNeed.objects.count() == 0
    assert Report.objects.count() == 0


@pytest.mark.parametrize(("fields", "field"), [
    ({"place": "Hall", "district": "nowhere", "held_at": "2026-11-20T18:00:00Z"}, "district"),
    ({"place": "Hall", "held_at": "2026-11-20T18:00:00Z"}, "district"),
    ({"district": "west", "held_at": "2026-11-20T18:00:00Z"}, "place"),
    ({"place": "Hall", "district": "west"}, "held_at"),
    ({"place": "Hall", "district": "west", "held_at": "2026-11-20T18:00:00Z",
      "agencies": "nobody"}, "agencies"),
])
def test_a_meeting_without_what_it_needs_is_refused_in_the_readers_language(
        agent_client, city, district, fields, field):
    response = agent_client.post(API, fields, format="json", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Meeting.objects.count() == 0


def test_crews_and_citizens_cannot_see_meetings(meeting):
    for role in (Role.CREW, Role.CITIZEN):
        client = APIClient()
        client.force_authenticate(user_with_role(role, username=f"{role}-x"))
        assert client.get(API).status_code == 403
    assert APIClient().get(API).status_code in (401, 403)


def test_a_dispatcher_and_a_manager_may_record_meetings(city, district, dispatcher):
    manager = user_with_role(Role.MANAGER, is_staff=True)
    manager.departments.add(DepartmentFactory(code="water"))
    for user in (dispatcher, manager):
        client = APIClient()
        client.force_authenticate(user)
        response = client.post(API, {"held_at": (timezone.now() - timedelta(days=1)).isoformat(),
                                     "place": "Hall", "district": "west"}, format="json")
        assert response.status_code == 201


def test_the_residents_summary_page_needs_no_account_and_shows_no_contact(meeting,
                                                                          agent_client,
                                                                          category):
    from django.test import Client

    _need(agent_client, meeting, text="Deep hole", category="pothole", lon=CENTRE[0],
          lat=CENTRE[1], name="Huda Saleh", email="huda@example.org", phone="+358401234567")
    page = Client().get(f"/meetings/{meeting.token}/?lang=ar")
    pdf = Client().get(f"/meetings/{meeting.token}/?lang=fa&format=pdf")

    html = page.content.decode()
    assert page.status_code == 200
    assert page["Content-Language"] == "ar"
    assert 'dir="rtl"' in html
    assert "Deep hole" in html
    assert "West community hall" in html
    for private in ("Huda", "huda@example.org", "+358401234567"):
        assert private not in html
    assert (pdf.status_code, pdf["Content-Type"]) == (200, "application/pdf")
    assert pdf.content.startswith(b"%PDF")
    assert Client().get(f"/meetings/{meeting.pk}/").status_code == 404


def test_the_admin_shows_a_meeting_with_its_needs(meeting, agent_client, client):
    from django.contrib.auth import get_user_model

    _need(agent_client, meeting, text="A park", district_need=True)
    client.force_login(get_user_model().objects.create_superuser("boss", "b@example.org", "pw"))

    page = client.get(f"/admin/incidents/meeting/{meeting.pk}/change/")

    assert page.status_code == 200
    assert "A park" in page.content.decode()
