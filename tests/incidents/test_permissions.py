"""Who may do what: dispatch actions belong to the incident's department's dispatchers
(and superusers), notes to staff, agent channels to intake agents; token auth works."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from fixtures.factories import DepartmentFactory, UserFactory
from incidents.models import Incident, IncidentUpdate, Report, RoutingRule, Status
from ops.roles import Role
from tests.conftest import CENTRE, offset, user_with_role

pytestmark = pytest.mark.django_db

S = Status
NOT_SIGNED_IN = "Authentication credentials were not provided."
NOT_DISPATCHER = "Only dispatchers may do this."
OTHER_DEPARTMENT = "This incident belongs to a department you do not dispatch for."
NOT_STAFF = "Only city staff may do this."


def _member(role: str, department):
    user = user_with_role(role, username=f"{role}-person")
    user.departments.add(department)
    return user


def _other_dispatcher(department):
    user = user_with_role(Role.DISPATCHER, username="water-dispatcher")
    user.departments.add(DepartmentFactory(code="water", name_en="Water"))
    return user


# Everyone but the other department's dispatcher works for the incidents' department.
USERS = {
    "anonymous": lambda department: None,
    "citizen": lambda department: _member(Role.CITIZEN, department),
    "intake_agent": lambda department: _member(Role.INTAKE_AGENT, department),
    "crew": lambda department: _member(Role.CREW, department),
    "manager": lambda department: _member(Role.MANAGER, department),
    "dispatcher": lambda department: _member(Role.DISPATCHER, department),
    "other_dispatcher": _other_dispatcher,
    "superuser": lambda department: UserFactory(username="admin", is_superuser=True,
                                                is_staff=True),
}


@pytest.fixture
def client_as(department):
    """An APIClient signed in as one of USERS (not signed in for "anonymous")."""

    def _client(who: str) -> APIClient:
        client = APIClient()
        client.force_authenticate(USERS[who](department))
        return client

    return _client


def _state() -> list:
    return [list(Incident.objects.order_by("pk").values_list(
                "pk", "status", "version", "report_count", "merged_into")),
            list(Report.objects.order_by("pk").values_list("pk", "incident", "status")),
            IncidentUpdate.objects.count()]


@pytest.fixture
def incidents(category, make_report):
    """Incident A (two reports) and incident B (one report, 500 m north), both `roads`."""
    a1 = make_report(category)
    a2 = make_report(category, *offset(*CENTRE, east_m=5))
    b1 = make_report(category, *offset(*CENTRE, north_m=500))
    return (Incident.objects.get(pk=a1.incident_id), Incident.objects.get(pk=b1.incident_id),
            [a1, a2, b1])


DISPATCH_OUTCOMES = {
    "anonymous": (403, NOT_SIGNED_IN),
    "citizen": (403, NOT_DISPATCHER),
    "intake_agent": (403, NOT_DISPATCHER),
    "crew": (403, NOT_DISPATCHER),
    "manager": (403, NOT_DISPATCHER),
    "other_dispatcher": (403, OTHER_DEPARTMENT),
}
ALLOWED_TO_DISPATCH = ["dispatcher", "superuser"]


ACTIONS = {
    "transition": lambda client, a, b, reports: client.post(
        f"/api/v1/incidents/{a.pk}/transition/", {"to": "verified"}, format="json"),
    "merge": lambda client, a, b, reports: client.post(
        f"/api/v1/incidents/{b.pk}/merge/", {"target": a.pk}, format="json"),
    "split": lambda client, a, b, reports: client.post(
        f"/api/v1/incidents/{a.pk}/split/", {"report_ids": [reports[1].pk]}, format="json"),
}


@pytest.mark.parametrize("action", ["transition", "merge", "split"])
@pytest.mark.parametrize("who", list(DISPATCH_OUTCOMES))
def test_dispatch_actions_are_refused_to_everyone_else_and_change_nothing(client_as, incidents,
                                                                          action, who):
    client = client_as(who)
    before = _state()

    response = ACTIONS[action](client, *incidents)

    assert (response.status_code, response.json()["detail"]) == DISPATCH_OUTCOMES[who]
    assert _state() == before


@pytest.mark.parametrize(("action", "status", "new_updates"), [
    ("transition", 200, 1), ("merge", 200, 2), ("split", 201, 2)])
@pytest.mark.parametrize("who", ALLOWED_TO_DISPATCH)
def test_department_dispatchers_and_superusers_may_dispatch(client_as, incidents, action,
                                                            status, new_updates, who):
    client = client_as(who)
    updates_before = IncidentUpdate.objects.count()

    response = ACTIONS[action](client, *incidents)

    assert response.status_code == status, response.json()
    assert IncidentUpdate.objects.count() == updates_before + new_updates
    assert IncidentUpdate.objects.latest("pk").by.username == {
        "dispatcher": "dispatcher-person", "superuser": "admin"}[who]


def test_merge_into_another_departments_incident_is_refused(client_as, category, department,
                                                            district_east, make_report):
    water = DepartmentFactory(code="water", name_en="Water")
    RoutingRule.objects.create(category=category, district=district_east, department=water)
    mine = Incident.objects.get(pk=make_report(category).incident_id)
    theirs = Incident.objects.get(pk=make_report(category, 24.95, 60.17).incident_id)
    client = client_as("dispatcher")
    before = _state()

    response = client.post(f"/api/v1/incidents/{mine.pk}/merge/", {"target": theirs.pk},
                           format="json")

    assert (theirs.department_id, response.status_code) == (water.pk, 403)
    assert response.json()["detail"] == OTHER_DEPARTMENT
    assert _state() == before


NOTE_OUTCOMES = {
    "anonymous": (403, NOT_SIGNED_IN),
    "citizen": (403, NOT_STAFF),
}
STAFF = ["intake_agent", "crew", "manager", "dispatcher", "other_dispatcher", "superuser"]


@pytest.mark.parametrize("who", list(NOTE_OUTCOMES))
def test_notes_are_refused_to_non_staff_and_change_nothing(client_as, incidents, who):
    client = client_as(who)
    before = _state()

    response = client.post(f"/api/v1/incidents/{incidents[0].pk}/notes/",
                           {"note": "Hello"}, format="json")

    assert (response.status_code, response.json()["detail"]) == NOTE_OUTCOMES[who]
    assert _state() == before


@pytest.mark.parametrize("who", STAFF)
def test_staff_may_add_notes(client_as, incidents, who):
    client = client_as(who)

    response = client.post(f"/api/v1/incidents/{incidents[0].pk}/notes/",
                           {"note": "Crane needed", "public": True}, format="json")

    assert response.status_code == 201
    assert IncidentUpdate.objects.filter(incident=incidents[0]).latest("pk").note == (
        "Crane needed")


# --- intake channels -----------------------------------------------------------------------

REPORT = {"category": "pothole", "lon": CENTRE[0], "lat": CENTRE[1], "phone": "+358401234567",
          "description": "Caller says: deep hole"}


def test_intake_agent_files_a_phone_report_on_behalf_of_a_caller(client_as, city, district,
                                                                 category):
    client = client_as("intake_agent")

    response = client.post("/api/v1/reports/", REPORT | {"channel": "phone"}, format="json")

    assert response.status_code == 201, response.json()
    report = Report.objects.get()
    assert (report.channel, report.submitted_by.username, report.user,
            report.reporter_phone) == ("phone", "intake_agent-person", None, "+358401234567")


@pytest.mark.parametrize("who", ["anonymous", "citizen", "crew", "dispatcher"])
def test_only_intake_agents_may_use_agent_channels(client_as, city, district, category, who):
    client = client_as(who)

    response = client.post("/api/v1/reports/", REPORT | {"channel": "phone"}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Only intake agents may file reports for the phone channel.")
    assert (Report.objects.count(), Incident.objects.count()) == (0, 0)


def test_signed_in_citizen_report_belongs_to_them(client_as, city, district, category):
    client = client_as("citizen")

    response = client.post("/api/v1/reports/", REPORT, format="json")

    assert response.status_code == 201
    report = Report.objects.get()
    assert (report.channel, report.user.username, report.submitted_by) == (
        "web", "citizen-person", None)


def test_my_reports_needs_sign_in(api_client):
    response = api_client.get("/api/v1/reports/mine/")

    assert (response.status_code, response.json()["detail"]) == (403, NOT_SIGNED_IN)


# --- token auth ----------------------------------------------------------------------------

def test_token_from_the_token_endpoint_authenticates_a_dispatcher(api_client, dispatcher,
                                                                  incidents):
    token = api_client.post("/api/v1/auth/token/", {"username": "dispatcher-user",
                                                    "password": "pass-word-123"},
                            format="json")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")

    response = client.post(f"/api/v1/incidents/{incidents[0].pk}/transition/",
                           {"to": "verified"}, format="json")

    assert token.status_code == 200
    assert (response.status_code, response.json()["properties"]["status"]) == (200, "verified")
    assert IncidentUpdate.objects.filter(incident=incidents[0]).latest("pk").by == dispatcher


def test_token_endpoint_refuses_a_wrong_password(api_client, dispatcher):
    response = api_client.post("/api/v1/auth/token/", {"username": "dispatcher-user",
                                                       "password": "wrong"}, format="json")

    assert response.status_code == 400
    assert "token" not in response.json()
    assert Token.objects.count() == 0


def test_unknown_token_is_refused_and_changes_nothing(incidents):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    before = _state()

    response = client.post(f"/api/v1/incidents/{incidents[0].pk}/transition/",
                           {"to": "verified"}, format="json")

    assert (response.status_code, response.json()["detail"]) == (403, "Invalid token.")
    assert _state() == before
