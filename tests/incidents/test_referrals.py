"""Referral of incidents to outside agencies: the `referred` status, sending by email or as
an Open311 client to a fake agency server on 127.0.0.1, answers polled and flowed back to
the reporters, chasing late agencies, and the API's refusals."""

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from fixtures.factories import CategoryFactory, DepartmentFactory
from fixtures.fake_open311 import API_KEY, FakeOpen311
from incidents.exceptions import InvalidTransition, ValidationFailed
from incidents.models import (
    Agency,
    Incident,
    IncidentUpdate,
    Notification,
    Referral,
    ReferralAnswer,
    ReferralChase,
    Status,
)
from incidents.services import incident_transition
from incidents.services.referrals import (
    agency_updates_poll,
    incident_refer,
    referral_answer_record,
    referral_send,
    referrals_chase_due,
)
from ops.roles import Role
from tests.conftest import user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def email_agency(category):
    agency = Agency.objects.create(code="electricity", name_en="Electricity Company",
                                   name_ar="شركة الكهرباء", name_fa="شرکت برق",
                                   email="referrals@electricity.example", answer_due_days=2)
    agency.categories.add(category)
    return agency


@pytest.fixture
def fake_agency():
    fake = FakeOpen311().start()
    yield fake
    fake.stop()


@pytest.fixture
def open311_agency(fake_agency):
    return Agency.objects.create(code="water", name_en="Water Authority",
                                 open311_endpoint=f"{fake_agency.url}/", open311_api_key=API_KEY,
                                 service_code_map={"pothole": "water-main"}, answer_due_days=5)


@pytest.fixture
def reported(category, make_report, dispatcher):
    """A verified incident with one reporter who gave an email address."""
    report = make_report(category, reporter_email="citizen@example.org",
                         reporter_name="Layla Haddad", reporter_phone="+358401112223",
                         description="Lamp post sparks at night", address="Mannerheimintie 5")
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
    Notification.objects.all().delete()
    return report


def _refer(report, agency, dispatcher, note="Their cable") -> Referral:
    return incident_refer(incident=report.incident, agency=agency, by=dispatcher, note=note)


# -- the status and the reporters ----------------------------------------------------------

def test_refer_moves_the_incident_to_referred_and_keeps_the_agency(reported, email_agency,
                                                                  dispatcher):
    referral = _refer(reported, email_agency, dispatcher)

    incident = Incident.objects.get(pk=reported.incident_id)
    assert (incident.status, incident.referred_to_id) == ("referred", email_agency.pk)
    assert incident.referred_at == referral.referred_at
    assert (referral.method, referral.state) == ("email", "pending")
    reported.refresh_from_db()
    assert reported.status == "referred"
    update = IncidentUpdate.objects.filter(incident=incident).order_by("-pk").first()
    assert (update.from_status, update.to_status, update.public) == ("verified", "referred", True)


@pytest.mark.parametrize(("fields", "channel", "recipient"), [
    ({"reporter_email": "citizen@example.org"}, "email", "citizen@example.org"),
    ({"reporter_phone": "+358401234567", "channel": "whatsapp"}, "whatsapp", "358401234567"),
    ({"reporter_phone": "+358401234567", "channel": "phone"}, "sms", "+358401234567"),
])
def test_reporter_hears_which_agency_has_it_on_their_channel(category, make_report, dispatcher,
                                                              email_agency, fields, channel,
                                                              recipient):
    report = make_report(category, **fields)

    incident_refer(incident=report.incident, agency=email_agency, by=dispatcher)

    notification = Notification.objects.get()
    assert (notification.channel, notification.recipient) == (channel, recipient)
    assert notification.subject == (f"Your report {report.tracking_code}: referred to another "
                                    "agency")
    assert ("It is now with Electricity Company, who are responsible for it, since"
            in notification.body)


def test_reporter_hears_the_agency_name_in_their_language(category, make_report, dispatcher,
                                                          email_agency):
    report = make_report(category, reporter_email="a@example.org", language="ar")

    incident_refer(incident=report.incident, agency=email_agency, by=dispatcher)

    assert "شركة الكهرباء" in Notification.objects.get().body


def test_tracking_shows_the_agency_and_since_without_personal_data(reported, email_agency,
                                                                   dispatcher):
    referral = _refer(reported, email_agency, dispatcher)

    body = APIClient().get(f"/api/v1/track/{reported.tracking_code}/").json()

    assert body["status"] == "referred"
    assert body["referral"]["agency"] == "Electricity Company"
    assert body["referral"]["agency_code"] == "electricity"
    assert body["referral"]["since"] == referral.referred_at.isoformat().replace("+00:00", "Z")
    text = str(body)
    assert "citizen@example.org" not in text
    assert "Layla" not in text
    assert "1112223" not in text


def test_referred_is_open_in_open311(reported, email_agency, dispatcher):
    _refer(reported, email_agency, dispatcher)

    body = APIClient().get(f"/open311/v2/requests/{reported.tracking_code}.json",
                           HTTP_ACCEPT_LANGUAGE="fa").json()

    assert body[0]["status"] == "open"
    assert body[0]["agency_responsible"] == "شرکت برق"


def test_taking_a_referral_back_needs_a_reason(reported, email_agency, dispatcher):
    _refer(reported, email_agency, dispatcher)

    with pytest.raises(ValidationFailed):
        incident_transition(incident=reported.incident, to=Status.VERIFIED, by=dispatcher)
    incident = incident_transition(incident=reported.incident, to=Status.VERIFIED, by=dispatcher,
                                   note="The company says it is the city's lamp")

    assert incident.status == "verified"
    assert incident.referred_to_id == email_agency.pk  # the history stays


def test_a_transition_to_referred_without_an_agency_is_refused(reported, dispatcher_client):
    version = Incident.objects.get(pk=reported.incident_id).version

    response = dispatcher_client.post(f"/api/v1/incidents/{reported.incident_id}/transition/",
                                      {"to": "referred"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"]["agency"] == [
        "Choose the outside agency to refer the incident to (the refer action)."]
    assert Incident.objects.get(pk=reported.incident_id).version == version


def test_a_resolved_incident_cannot_be_referred(reported, email_agency, dispatcher):
    incident = incident_transition(incident=reported.incident, to=Status.ASSIGNED, by=dispatcher)
    incident = incident_transition(incident=incident, to=Status.ON_SITE, by=dispatcher)
    incident = incident_transition(incident=incident, to=Status.RESOLVED, by=dispatcher)

    with pytest.raises(InvalidTransition):
        incident_refer(incident=incident, agency=email_agency, by=dispatcher)
    assert Referral.objects.count() == 0


# -- the API -------------------------------------------------------------------------------

def test_refer_api_creates_the_referral(reported, email_agency, dispatcher_client):
    response = dispatcher_client.post(f"/api/v1/incidents/{reported.incident_id}/refer/",
                                      {"agency": "electricity", "note": "Their cable"},
                                      format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["incident"], body["agency"], body["state"]) == (reported.incident_id,
                                                                 "electricity", "pending")
    assert Incident.objects.get(pk=reported.incident_id).status == "referred"


@pytest.mark.parametrize(("agency", "code", "field_message"), [
    ("no-such", 400, "No outside agency “no-such”."),
    ("nocontact", 400, "The agency “Ministry of Works” has no email address and no Open311 "
                       "endpoint; add one in the admin before referring incidents to it."),
    ("retired", 400, "The agency “Old Company” is no longer active."),
    ("", 400, None),
])
def test_refer_api_refuses_bad_agencies_and_stores_nothing(reported, dispatcher_client, agency,
                                                          code, field_message):
    Agency.objects.create(code="nocontact", name_en="Ministry of Works")
    Agency.objects.create(code="retired", name_en="Old Company", email="x@old.example",
                          active=False)
    before = Incident.objects.get(pk=reported.incident_id)
    updates = IncidentUpdate.objects.count()

    response = dispatcher_client.post(f"/api/v1/incidents/{reported.incident_id}/refer/",
                                      {"agency": agency}, format="json")

    assert response.status_code == code
    if field_message:
        assert response.json()["errors"]["agency"] == [field_message]
    after = Incident.objects.get(pk=reported.incident_id)
    assert (after.status, after.version, after.referred_to_id) == (before.status,
                                                                   before.version, None)
    assert Referral.objects.count() == 0
    assert IncidentUpdate.objects.count() == updates
    assert Notification.objects.count() == 0


def test_refer_api_answers_in_the_readers_language(reported, dispatcher_client):
    Agency.objects.create(code="nocontact", name_en="Ministry of Works")

    response = dispatcher_client.post(f"/api/v1/incidents/{reported.incident_id}/refer/",
                                      {"agency": "nocontact"}, format="json",
                                      HTTP_ACCEPT_LANGUAGE="ar")

    assert response.status_code == 400
    assert response["Content-Language"] == "ar"


def test_refer_api_scopes_dispatchers_to_their_departments(reported, email_agency):
    other = user_with_role(Role.DISPATCHER, username="other-dispatcher")
    other.departments.add(DepartmentFactory(code="parks"))
    client = APIClient()
    client.force_authenticate(other)

    response = client.post(f"/api/v1/incidents/{reported.incident_id}/refer/",
                           {"agency": "electricity"}, format="json")

    assert response.status_code == 403
    assert Referral.objects.count() == 0


def test_refer_api_unknown_incident_is_404_and_resolved_is_409(reported, email_agency,
                                                              dispatcher, dispatcher_client):
    missing = dispatcher_client.post("/api/v1/incidents/999999/refer/",
                                     {"agency": "electricity"}, format="json")
    incident = incident_transition(incident=reported.incident, to=Status.REJECTED,
                                   by=dispatcher, note="Duplicate call")
    refused = dispatcher_client.post(f"/api/v1/incidents/{incident.pk}/refer/",
                                     {"agency": "electricity"}, format="json")

    assert missing.status_code == 404
    assert refused.status_code == 409
    assert refused.json()["code"] == "invalid_transition"
    assert Referral.objects.count() == 0


def test_agency_list_shows_how_they_are_reached_not_their_keys(email_agency, open311_agency,
                                                              dispatcher_client):
    body = dispatcher_client.get("/api/v1/agencies/").json()

    assert [(a["code"], a["contact"], a["categories"]) for a in body] == [
        ("electricity", ["email"], ["pothole"]), ("water", ["open311"], [])]
    assert API_KEY not in str(body)


def test_agency_list_is_for_staff_only(email_agency):
    assert APIClient().get("/api/v1/agencies/").status_code in (401, 403)


# -- email agencies ------------------------------------------------------------------------

def test_email_referral_has_incident_place_and_answer_link_but_no_reporter(reported,
                                                                           email_agency,
                                                                           dispatcher):
    referral = _refer(reported, email_agency, dispatcher)

    outcome = referral_send(referral_id=referral.pk)

    assert outcome == "sent"
    message = mail.outbox[-1]
    assert message.to == ["referrals@electricity.example"]
    assert message.reply_to == [settings.DEFAULT_FROM_EMAIL]  # the department has no address
    assert f"#{reported.incident_id}" in message.subject
    assert referral.reference in message.subject
    assert message.extra_headers["X-Rasad-Referral"] == referral.reference
    assert "Lamp post sparks at night" in message.body
    assert "Mannerheimintie 5" in message.body
    assert "Note from the dispatcher: Their cable" in message.body
    loc = reported.incident.location
    assert f"{loc.y:.6f}, {loc.x:.6f}" in message.body
    assert f"/api/v1/referrals/answer/{referral.reference}/" in message.body
    assert "citizen@example.org" not in message.body
    assert "Layla" not in message.body
    assert "1112223" not in message.body
    referral.refresh_from_db()
    assert (referral.state, referral.attempts) == ("sent", 1)
    assert referral_send(referral_id=referral.pk) == "skipped"
    assert len(mail.outbox) == 1


def test_agency_answers_by_link_and_the_reporter_hears(reported, email_agency, dispatcher):
    referral = _refer(reported, email_agency, dispatcher)
    referral_send(referral_id=referral.pk)
    Notification.objects.all().delete()
    url = f"/api/v1/referrals/answer/{referral.reference}/"

    bad = APIClient().post(url, {"status": "done", "description": "x"}, format="json")
    assert bad.status_code == 400
    assert ReferralAnswer.objects.count() == 0
    response = APIClient().post(url, {"status": "closed", "description": "Cable replaced"},
                                format="json")

    assert response.status_code == 201
    assert Incident.objects.get(pk=reported.incident_id).status == "resolved"
    notification = Notification.objects.get()
    assert (notification.channel, notification.recipient) == ("email", "citizen@example.org")
    assert "is now: resolved" in notification.body
    assert "Cable replaced" in notification.body
    assert APIClient().get("/api/v1/referrals/answer/rasad-nonsense/").status_code == 404


# -- Open311 agencies ----------------------------------------------------------------------

def test_open311_referral_is_posted_as_georeport_v2(reported, open311_agency, fake_agency,
                                                    dispatcher):
    referral = _refer(reported, open311_agency, dispatcher)

    outcome = referral_send(referral_id=referral.pk)

    assert outcome == "sent"
    [post] = fake_agency.posts
    loc = reported.incident.location
    assert post["api_key"] == API_KEY
    assert post["service_code"] == "water-main"
    assert (post["lat"], post["long"]) == (f"{loc.y:.6f}", f"{loc.x:.6f}")
    assert post["attribute[rasad_reference]"] == referral.reference
    assert post["address_string"] == "Mannerheimintie 5"
    assert "Lamp post sparks at night" in post["description"]
    assert "citizen@example.org" not in str(post)
    assert "Layla" not in str(post)
    referral.refresh_from_db()
    assert (referral.state, referral.external_id) == ("sent", "638344")
    assert list(fake_agency.requests) == ["638344"]


def test_a_failed_post_is_retried_without_a_second_request_at_the_agency(
        reported, open311_agency, fake_agency, dispatcher):
    referral = _refer(reported, open311_agency, dispatcher)
    fake_agency.fail_next = 1

    first = referral_send(referral_id=referral.pk)
    referral.refresh_from_db()
    assert (first, referral.state, referral.attempts) == ("retry", "pending", 1)
    assert referral.next_attempt_at > timezone.now()
    assert "HTTP 503" in referral.last_error
    second = referral_send(referral_id=referral.pk)
    # The agency got it but its answer was lost: the retry carries the same reference.
    Referral.objects.filter(pk=referral.pk).update(state="pending", external_id="")
    third = referral_send(referral_id=referral.pk)

    referral.refresh_from_db()
    assert (second, third) == ("sent", "sent")
    assert len(fake_agency.posts) == 2  # the 503 was answered before the request was read
    assert len(fake_agency.requests) == 1
    assert referral.external_id == "638344"


def test_a_refused_post_fails_and_tells_the_dispatchers(reported, fake_agency, dispatcher):
    agency = Agency.objects.create(code="water", name_en="Water Authority",
                                   open311_endpoint=fake_agency.url, open311_api_key="wrong")
    referral = _refer(reported, agency, dispatcher)

    outcome = referral_send(referral_id=referral.pk)

    referral.refresh_from_db()
    assert (outcome, referral.state) == ("failed", "failed")
    assert referral.last_error == "HTTP 403: 403: Invalid api_key"
    note = IncidentUpdate.objects.filter(incident=reported.incident).order_by("-pk").first()
    assert (note.public, note.note) == (False, "Water Authority refused the referral: HTTP 403: "
                                               "403: Invalid api_key")


def test_a_token_is_resolved_to_the_agencys_request_id(reported, open311_agency, fake_agency,
                                                       dispatcher):
    fake_agency.use_tokens = True
    referral = _refer(reported, open311_agency, dispatcher)

    first = referral_send(referral_id=referral.pk)
    referral.refresh_from_db()
    assert (first, referral.token, referral.external_id) == ("awaiting_id", "tok-638344", "")
    second = referral_send(referral_id=referral.pk)

    referral.refresh_from_db()
    assert (second, referral.state, referral.external_id) == ("sent", "sent", "638344")
    assert len(fake_agency.posts) == 1


def test_agency_answers_are_polled_and_flow_back_to_the_reporter(reported, open311_agency,
                                                                 fake_agency, dispatcher):
    referral = _refer(reported, open311_agency, dispatcher)
    referral_send(referral_id=referral.pk)
    Notification.objects.all().delete()
    fake_agency.update_add("638344", "IN_PROGRESS", "Crew booked for Tuesday")

    first = agency_updates_poll(agency=open311_agency)

    assert first == 1
    assert Incident.objects.get(pk=reported.incident_id).status == "referred"
    news = Notification.objects.get()
    assert (news.channel, news.recipient) == ("email", "citizen@example.org")
    assert f"News on your report {reported.tracking_code} (Pothole): Crew booked for Tuesday" \
        in news.body
    poll = fake_agency.polls[-1]
    assert set(poll) == {"start_date", "end_date", "api_key"}
    assert datetime.fromisoformat(poll["start_date"]) < referral.referred_at

    fake_agency.update_add("638344", "closed", "Main repaired")
    second = agency_updates_poll(agency=open311_agency)

    incident = Incident.objects.get(pk=reported.incident_id)
    assert second == 1
    assert incident.status == "resolved"
    resolved = Notification.objects.order_by("-pk").first()
    assert "is now: resolved" in resolved.body
    assert "Main repaired" in resolved.body
    referral.refresh_from_db()
    assert referral.state == "answered"
    assert list(ReferralAnswer.objects.values_list("external_update_id", "status")) == [
        ("1", "in_progress"), ("2", "closed")]


def test_an_answer_polled_twice_is_recorded_once(reported, open311_agency, fake_agency,
                                                 dispatcher):
    referral = _refer(reported, open311_agency, dispatcher)
    referral_send(referral_id=referral.pk)
    fake_agency.update_add("638344", "open", "Investigating")
    fake_agency.update_add("999999", "open", "Someone else's request")
    agency_updates_poll(agency=open311_agency)
    notifications = Notification.objects.count()
    updates = IncidentUpdate.objects.count()
    Agency.objects.filter(pk=open311_agency.pk).update(updates_polled_until=None)
    open311_agency.refresh_from_db()

    again = agency_updates_poll(agency=open311_agency)

    assert again == 0
    assert ReferralAnswer.objects.count() == 1
    assert Notification.objects.count() == notifications
    assert IncidentUpdate.objects.count() == updates


# -- overdue and chasing -------------------------------------------------------------------

def _local(*args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(settings.RASAD_WORK_TIMEZONE))


def _referred_on(referral: Referral, moment: datetime) -> None:
    Referral.objects.filter(pk=referral.pk).update(referred_at=moment)
    Incident.objects.filter(pk=referral.incident_id).update(referred_at=moment)


def test_a_late_agency_is_chased_once_per_period(reported, email_agency, dispatcher,
                                                 django_capture_on_commit_callbacks):
    referral = _refer(reported, email_agency, dispatcher)
    referral_send(referral_id=referral.pk)
    # Monday 10:00; two working days (8 h each) are due by Wednesday 10:00.
    _referred_on(referral, _local(2026, 11, 2, 10, 0))

    with django_capture_on_commit_callbacks(execute=True):
        before_due = referrals_chase_due(now=_local(2026, 11, 4, 9, 0))
        first = referrals_chase_due(now=_local(2026, 11, 4, 12, 0))
        same_period = referrals_chase_due(now=_local(2026, 11, 5, 12, 0))
        next_period = referrals_chase_due(now=_local(2026, 11, 9, 12, 0))

    assert (before_due, first, same_period, next_period) == (0, 1, 0, 1)
    assert list(ReferralChase.objects.values_list("period", "emailed")) == [(1, True),
                                                                           (2, True)]
    reminders = mail.outbox[1:]
    assert [m.subject.split(":")[0] for m in reminders] == ["Reminder 1", "Reminder 2"]
    assert all(m.to == ["referrals@electricity.example"] for m in reminders)
    notes = list(IncidentUpdate.objects.filter(incident=reported.incident, to_status="")
                 .values_list("note", "public"))
    assert notes == [
        ("No answer from Electricity Company after 2 working days: reminder 1 sent.", False),
        ("No answer from Electricity Company after 4 working days: reminder 2 sent.", False)]
    assert Notification.objects.filter(update__to_status="").count() == 0


def test_an_answered_referral_is_not_chased(reported, email_agency, dispatcher):
    referral = _refer(reported, email_agency, dispatcher)
    referral_send(referral_id=referral.pk)
    _referred_on(referral, _local(2026, 11, 2, 10, 0))
    APIClient().post(f"/api/v1/referrals/answer/{referral.reference}/",
                     {"status": "open", "description": "We will look on Thursday"},
                     format="json")

    assert referrals_chase_due(now=_local(2026, 11, 9, 12, 0)) == 0
    assert ReferralChase.objects.count() == 0


def test_dispatchers_see_overdue_referrals(category, make_report, email_agency, dispatcher,
                                           dispatcher_client):
    late = _refer(make_report(category), email_agency, dispatcher)
    fresh_category = CategoryFactory(code="lamp", department=category.department)
    fresh = _refer(make_report(fresh_category), email_agency, dispatcher)
    referral_send(referral_id=late.pk)
    referral_send(referral_id=fresh.pk)
    _referred_on(late, timezone.now() - timedelta(days=14))

    overdue = dispatcher_client.get("/api/v1/referrals/?overdue=true").json()
    everything = dispatcher_client.get("/api/v1/referrals/").json()

    assert [(r["id"], r["overdue"]) for r in overdue] == [(late.pk, True)]
    assert [(r["id"], r["overdue"]) for r in everything] == [(late.pk, True), (fresh.pk, False)]
    assert overdue[0]["due_at"] is not None
    bad = dispatcher_client.get("/api/v1/referrals/?overdue=maybe")
    assert bad.status_code == 400
    other = user_with_role(Role.DISPATCHER, username="parks-dispatcher")
    other.departments.add(DepartmentFactory(code="parks"))
    client = APIClient()
    client.force_authenticate(other)
    assert client.get("/api/v1/referrals/").json() == []


def test_the_referral_list_costs_a_query_per_referral_at_most(category, make_report,
                                                              email_agency, dispatcher,
                                                              dispatcher_client,
                                                              django_assert_max_num_queries):
    for n in range(6):
        other = CategoryFactory(code=f"c{n}", department=category.department)
        referral = _refer(make_report(other), email_agency, dispatcher)
        referral_send(referral_id=referral.pk)
    dispatcher_client.get("/api/v1/referrals/")  # the calendar laid out

    with django_assert_max_num_queries(6 + 8):
        body = dispatcher_client.get("/api/v1/referrals/").json()

    assert len(body) == 6


@pytest.mark.parametrize("from_status", ["new", "verified", "assigned", "reopened"])
def test_every_status_that_may_be_referred_is_referred(category, make_report, email_agency,
                                                       dispatcher, from_status):
    report = make_report(category)
    Incident.objects.filter(pk=report.incident_id).update(status=from_status)

    referral = incident_refer(incident=report.incident, agency=email_agency, by=dispatcher)

    incident = Incident.objects.get(pk=report.incident_id)
    assert (incident.status, incident.referred_to_id) == ("referred", email_agency.pk)
    update = IncidentUpdate.objects.filter(incident=incident).latest("pk")
    assert (update.from_status, update.to_status, update.by) == (from_status, "referred",
                                                                 dispatcher)
    assert referral.referred_at == incident.referred_at


def test_the_demo_has_agencies_and_a_referred_incident(settings):
    from django.core.management import call_command

    from fixtures.referrals_demo import DEMO_REFERRALS

    settings.RASAD_DEMO = False
    call_command("load_demo", "--reports", "300", "--days", "20", stdout=io.StringIO())
    first = sorted(Referral.objects.values_list("pk", flat=True))
    call_command("load_demo", "--reports", "300", "--days", "20", stdout=io.StringIO())

    agencies = {a.code: (bool(a.email), a.open311_endpoint) for a in Agency.objects.all()}
    assert agencies == {
        "electricity": (True, ""), "police": (True, ""),
        "water-authority": (False, f"{settings.RASAD_DEMO_PROVIDER_URL}/agency311/")}
    assert sorted(Referral.objects.values_list("pk", flat=True)) == first
    [referral] = Referral.objects.filter(note__in=[note for _c, _cat, note in DEMO_REFERRALS])
    assert referral.incident.status == "referred"
    assert referral.incident.category in referral.agency.categories.all()


def test_the_demo_providers_serve_the_water_authoritys_open311(reported, dispatcher):
    from fixtures.fake_providers import FakeProviders

    fake = FakeProviders().start()
    try:
        agency = Agency.objects.create(code="water-authority", name_en="Water Authority",
                                       open311_endpoint=f"{fake.url}/agency311/",
                                       open311_api_key=API_KEY,
                                       default_service_code="water-main")
        referral = _refer(reported, agency, dispatcher)

        outcome = referral_send(referral_id=referral.pk)
        answered = httpx.post(f"{fake.url}/agency311/_fake/updates", timeout=5, data={
            "service_request_id": "638344", "status": "closed",
            "description": "Valve replaced"})
        recorded = agency_updates_poll(agency=agency)
    finally:
        fake.stop()

    assert (outcome, answered.status_code, recorded) == ("sent", 201, 1)
    assert Incident.objects.get(pk=reported.incident_id).status == "resolved"


# -- through a real worker -----------------------------------------------------------------

def _settled(predicate, timeout_s: float = 20.0) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_sends_the_referral_and_the_sweep_brings_the_answer_back(
        reported, open311_agency, fake_agency, dispatcher_client, celery_worker):
    from incidents.tasks import referrals_sweep_task

    response = dispatcher_client.post(f"/api/v1/incidents/{reported.incident_id}/refer/",
                                      {"agency": "water"}, format="json")
    referral_id = response.json()["id"]

    sent = _settled(lambda: Referral.objects.get(pk=referral_id).state == "sent")
    fake_agency.update_add("638344", "fixed", "Pipe replaced")
    referrals_sweep_task.delay()
    resolved = _settled(
        lambda: Incident.objects.get(pk=reported.incident_id).status == "resolved")

    assert (sent, resolved) == (True, True)
    assert len(fake_agency.posts) == 1
    assert len(fake_agency.polls) == 1
    assert ReferralAnswer.objects.get().status == "fixed"
    assert Notification.objects.filter(report=reported, update__to_status="resolved",
                                       channel="email").count() == 1


def test_agencies_are_edited_in_the_admin(client, email_agency):
    admin_user = user_with_role(None, username="root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)

    listing = client.get("/admin/incidents/agency/")
    change = client.get(f"/admin/incidents/agency/{email_agency.pk}/change/")
    referrals = client.get("/admin/incidents/referral/")

    assert (listing.status_code, change.status_code, referrals.status_code) == (200, 200, 200)
    assert "referrals@electricity.example" in listing.content.decode()
    assert 'name="open311_api_key"' in change.content.decode()


def test_an_answer_after_the_city_took_it_back_stays_internal(reported, open311_agency,
                                                              fake_agency, dispatcher):
    referral = _refer(reported, open311_agency, dispatcher)
    referral_send(referral_id=referral.pk)
    incident_transition(incident=reported.incident, to=Status.VERIFIED, by=dispatcher,
                        note="Our own pipe after all")
    Notification.objects.all().delete()
    url = f"/api/v1/referrals/answer/{referral.reference}/"

    by_link = APIClient().post(url, {"status": "closed", "description": "Done"}, format="json")
    answer = referral_answer_record(referral=referral, external_update_id="7", status="closed",
                                    description="Done", answered_at=timezone.now())

    assert by_link.status_code == 409
    assert Incident.objects.get(pk=reported.incident_id).status == "verified"
    assert answer.update.public is False
    assert answer.update.note == "Done"
    assert Notification.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_first_lateness_checks_in_parallel_all_answer(reported, email_agency, dispatcher):
    # The city's calendar is laid out on its first use; two requests may both try.
    import threading

    from django.db import connection

    from incidents.models import BusinessDay
    from incidents.services.referrals import referral_lateness

    referral = _refer(reported, email_agency, dispatcher)
    referral_send(referral_id=referral.pk)
    BusinessDay.objects.all().delete()
    results, errors, start = [], [], threading.Barrier(4)

    def check() -> None:
        try:
            start.wait()
            results.append(referral_lateness(Referral.objects.get(pk=referral.pk)).overdue)
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert results == [False, False, False, False]


def test_without_the_updates_extension_each_request_is_read(reported, open311_agency,
                                                            fake_agency, dispatcher):
    fake_agency.updates_extension = False
    referral = _refer(reported, open311_agency, dispatcher)
    referral_send(referral_id=referral.pk)

    nothing_yet = agency_updates_poll(agency=open311_agency)
    fake_agency.update_add("638344", "open", "Crew booked for Tuesday")
    noted = agency_updates_poll(agency=open311_agency)
    again = agency_updates_poll(agency=open311_agency)
    fake_agency.update_add("638344", "closed", "Main repaired")
    closed = agency_updates_poll(agency=open311_agency)

    assert (nothing_yet, noted, again, closed) == (0, 1, 0, 1)
    assert list(ReferralAnswer.objects.values_list("status", "description")) == [
        ("open", "Crew booked for Tuesday"), ("closed", "Main repaired")]
    assert Incident.objects.get(pk=reported.incident_id).status == "resolved"


def test_a_referral_taken_back_before_it_went_out_is_never_sent(reported, open311_agency,
                                                                fake_agency, dispatcher):
    referral = _refer(reported, open311_agency, dispatcher)
    incident_transition(incident=reported.incident, to=Status.VERIFIED, by=dispatcher,
                        note="Wrong agency")

    outcome = referral_send(referral_id=referral.pk)

    referral.refresh_from_db()
    assert (outcome, referral.state, referral.attempts) == ("withdrawn", "failed", 0)
    assert fake_agency.posts == []
