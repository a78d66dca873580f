"""Storm mode: switching on and off (by a manager and by itself), bad input, intake pausing
on every channel, raised priorities, the chatbot's category order, the console's dashboard."""

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone
from rest_framework.test import APIClient

from crews.exceptions import IntakePaused
from crews.models import Crew, CrewPosition, EmergencyMode
from crews.selectors_storm import emergency_mode_get_active, storm_priority_bonus
from crews.services.storm import emergency_mode_start, emergency_modes_sweep
from crews.tasks import storm_modes_sweep_task
from fixtures.factories import CategoryFactory, Open311ClientFactory
from incidents.channels.dialogue import category_options
from incidents.models import Incident, Report
from incidents.priority import priority_score
from incidents.services import ReportInput, incidents_reprioritize, report_submit
from ops.roles import Role
from tests.conftest import CENTRE, offset, user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def snow(department):
    return CategoryFactory(code="snow", department=department, name_en="Snow on the road",
                           name_ar="ثلج على الطريق", name_fa="برف در جاده", severity=3,
                           sla_hours=24, group="zz-roads")


@pytest.fixture
def graffiti(department):
    return CategoryFactory(code="graffiti", department=department, name_en="Graffiti",
                           name_ar="كتابة على الجدران", name_fa="دیوارنویسی", severity=1,
                           group="aa-city")


@pytest.fixture
def manager():
    return user_with_role(Role.MANAGER, username="manager-1", first_name="Mina",
                          email="mina@example.org")


@pytest.fixture
def manager_client(manager):
    client = APIClient()
    client.force_authenticate(manager)
    return client


def _body(**changes):
    body = {"hazard": "snow_storm", "ends_at": (timezone.now() + timedelta(hours=6)).isoformat(),
            "categories": ["snow"], "paused_categories": ["graffiti"],
            "message_en": "Snow storm: report blocked roads first.",
            "message_ar": "عاصفة ثلجية: أبلغوا عن الطرق المغلقة أولاً.",
            "message_fa": "کولاک: اول راه‌های بسته را گزارش کنید.",
            "pause_message_en": "Graffiti waits until the storm is over."}
    body.update(changes)
    return body


@pytest.fixture
def storm(city, district, district_east, snow, graffiti, manager):
    return emergency_mode_start(
        area=city, hazard="snow_storm", ends_at=timezone.now() + timedelta(hours=6),
        category_codes=["snow"], paused_codes=["graffiti"],
        messages={"en": "Snow storm: report blocked roads first.", "ar": "عاصفة ثلجية",
                  "fa": "کولاک"},
        pause_messages={"en": "Graffiti waits until the storm is over."}, by=manager)


def _submit(category, **fields):
    return report_submit(data=ReportInput(category_code=category.code, lon=CENTRE[0],
                                          lat=CENTRE[1], **fields)).report


# -- switching on ----------------------------------------------------------------------------

def test_a_manager_switches_storm_mode_on(manager_client, city, district, snow, graffiti):
    response = manager_client.post("/api/v1/storm/modes/", _body(), format="json")

    assert response.status_code == 201, response.json()
    mode = EmergencyMode.objects.get()
    assert response.json()["id"] == mode.pk
    assert mode.area == city
    assert [c.code for c in mode.categories.all()] == ["snow"]
    assert [c.code for c in mode.paused_categories.all()] == ["graffiti"]
    assert mode.message_fa == "کولاک: اول راه‌های بسته را گزارش کنید."
    assert emergency_mode_get_active(area=city) == mode


@pytest.mark.parametrize(("changes", "field"), [
    ({"ends_at": "2020-01-01T00:00:00Z"}, "ends_at"),
    ({"categories": ["snow", "no-such-thing"]}, "categories"),
    ({"paused_categories": ["nope"]}, "paused_categories"),
    ({"paused_categories": ["snow"]}, "paused_categories"),
    ({"categories": []}, "categories"),
    ({"message_en": "", "message_ar": "", "message_fa": ""}, "message"),
    ({"hazard": "volcano"}, "hazard"),
    ({"area": "atlantis"}, "area"),
    ({"priority_bonus": 99}, "priority_bonus"),
])
def test_bad_storm_mode_input_is_refused_and_nothing_is_stored(manager_client, city, district,
                                                               snow, graffiti, changes, field):
    response = manager_client.post("/api/v1/storm/modes/", _body(**changes), format="json")

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    assert EmergencyMode.objects.count() == 0


def test_an_end_time_in_the_past_is_refused_in_the_readers_language(manager_client, city,
                                                                    snow, graffiti):
    response = manager_client.post("/api/v1/storm/modes/", _body(ends_at="2020-01-01T00:00Z"),
                                   format="json", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert response.json()["errors"]["ends_at"] == ["The end time is in the past."]


def test_an_overlapping_mode_is_a_conflict(manager_client, storm):
    response = manager_client.post("/api/v1/storm/modes/", _body(), format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert EmergencyMode.objects.count() == 1


def test_a_mode_after_the_current_one_is_accepted(manager_client, storm):
    later = timezone.now() + timedelta(hours=7)
    response = manager_client.post(
        "/api/v1/storm/modes/",
        _body(starts_at=later.isoformat(), ends_at=(later + timedelta(hours=2)).isoformat()),
        format="json")

    assert response.status_code == 201, response.json()
    assert EmergencyMode.objects.count() == 2
    assert emergency_mode_get_active() == storm


@pytest.mark.parametrize("role", [Role.DISPATCHER, Role.INTAKE_AGENT, Role.CITIZEN, None])
def test_only_managers_switch_storm_mode(city, snow, graffiti, role):
    client = APIClient()
    if role is not None:
        client.force_authenticate(user_with_role(role))

    response = client.post("/api/v1/storm/modes/", _body(), format="json")

    assert response.status_code in (401, 403)
    assert EmergencyMode.objects.count() == 0


# -- switching off -----------------------------------------------------------------------------

def test_a_manager_ends_the_mode_and_a_second_end_is_a_conflict(manager_client, storm, graffiti):
    response = manager_client.delete(f"/api/v1/storm/modes/{storm.pk}/")
    again = manager_client.delete(f"/api/v1/storm/modes/{storm.pk}/")

    assert response.status_code == 200
    assert response.json()["cancelled_at"] is not None
    assert again.status_code == 409
    assert emergency_mode_get_active() is None
    assert _submit(graffiti).pk is not None


def test_storm_mode_ends_by_itself_at_its_end_time(storm, snow, graffiti):
    incident = _submit(snow).incident
    raised = Incident.objects.get(pk=incident.pk).priority
    # The end time passes (moved in the database): the mode is over even before the sweep.
    EmergencyMode.objects.filter(pk=storm.pk).update(
        starts_at=timezone.now() - timedelta(hours=7), ends_at=timezone.now() - timedelta(seconds=1))

    assert emergency_mode_get_active() is None
    assert _submit(graffiti).category == graffiti

    ended = storm_modes_sweep_task()

    storm.refresh_from_db()
    assert ended == 1
    assert storm.ended_at is not None
    assert storm.cancelled_at is None
    incident.refresh_from_db()
    assert incident.priority == pytest.approx(raised - 20, abs=0.1)
    assert emergency_modes_sweep() == 0  # idempotent


def test_storm_mode_switches_on_by_itself_at_its_start_time(city, district, snow, graffiti,
                                                            manager):
    waiting = _submit(snow).incident
    base = Incident.objects.get(pk=waiting.pk).priority
    mode = emergency_mode_start(
        area=city, hazard="flood", starts_at=timezone.now() + timedelta(hours=1),
        ends_at=timezone.now() + timedelta(hours=3), category_codes=["snow"],
        paused_codes=["graffiti"], messages={"en": "Flood"}, by=manager)
    assert emergency_mode_get_active() is None
    assert _submit(graffiti).pk is not None

    EmergencyMode.objects.filter(pk=mode.pk).update(starts_at=timezone.now() - timedelta(minutes=1))
    storm_modes_sweep_task()

    assert emergency_mode_get_active() == mode
    waiting.refresh_from_db()
    assert waiting.priority == pytest.approx(base + 20, abs=0.1)
    with pytest.raises(IntakePaused) as refused:
        _submit(graffiti)
    assert refused.value.code == "intake_paused"


# -- intake ------------------------------------------------------------------------------------

def test_the_web_api_refuses_a_paused_category_and_stores_nothing(api_client, storm, graffiti):
    before = Report.objects.count()

    response = api_client.post("/api/v1/reports/", {
        "category": "graffiti", "lon": CENTRE[0], "lat": CENTRE[1], "description": "Tag",
        "email": "a@example.org"}, format="json", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "intake_paused"
    assert body["detail"].startswith("New reports of “Graffiti” are paused during the snow storm")
    assert body["detail"].endswith("Graffiti waits until the storm is over.")
    assert Report.objects.count() == before


def test_the_web_api_accepts_the_hazards_categories(api_client, storm, snow):
    response = api_client.post("/api/v1/reports/", {
        "category": "snow", "lon": CENTRE[0], "lat": CENTRE[1]}, format="json")

    assert response.status_code == 201, response.json()


def test_open311_refuses_a_paused_category(api_client, storm, graffiti):
    Open311ClientFactory(api_key="storm-key")

    response = api_client.post("/open311/v2/requests.json", {
        "api_key": "storm-key", "service_code": "graffiti", "lat": str(CENTRE[1]),
        "long": str(CENTRE[0]), "description": "Tag"}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 409
    assert response.json()[0]["code"] == 409
    assert "paused" in response.json()[0]["description"]
    assert Report.objects.filter(category=graffiti).count() == 0


def test_a_paused_category_outside_the_area_is_not_the_modes_business(storm, graffiti):
    from incidents.exceptions import OutsideServiceArea

    with pytest.raises(OutsideServiceArea):
        report_submit(data=ReportInput(category_code="graffiti", lon=10.0, lat=50.0))


def test_a_hazard_report_gets_the_raised_priority(storm, snow):
    report = _submit(snow)

    incident = Incident.objects.get(pk=report.incident_id)
    expected = priority_score(severity=incident.severity, report_count=1,
                              first_reported_at=incident.first_reported_at, sla_hours=24,
                              now=incident.first_reported_at, emergency_bonus=20)
    assert incident.priority == pytest.approx(expected, abs=0.1)
    assert storm_priority_bonus(area_id=incident.area_id, category_id=snow.pk) == 20.0


def test_the_reprioritize_sweep_keeps_the_storm_bonus(storm, snow, graffiti, category):
    raised = _submit(snow).incident
    plain = report_submit(data=ReportInput(category_code=category.code,
                                           lon=offset(*CENTRE, north_m=500)[0],
                                           lat=offset(*CENTRE, north_m=500)[1])).report.incident

    incidents_reprioritize()

    raised.refresh_from_db()
    plain.refresh_from_db()
    base = priority_score(severity=raised.severity, report_count=1,
                          first_reported_at=raised.first_reported_at, sla_hours=24,
                          now=timezone.now())
    assert raised.priority == pytest.approx(base + 20, abs=0.2)
    assert plain.priority == priority_score(
        severity=plain.severity, report_count=1, first_reported_at=plain.first_reported_at,
        sla_hours=plain.category.sla_hours, now=timezone.now())


# -- chatbot -----------------------------------------------------------------------------------

def test_the_chatbot_lists_the_hazards_categories_first_and_leaves_out_paused_ones(
        storm, snow, graffiti, category):
    options = category_options("fa")

    assert options[0] == {"id": "cat:snow", "title": "برف در جاده"}
    assert "cat:graffiti" not in [o["id"] for o in options]
    assert "cat:pothole" in [o["id"] for o in options]


def test_without_storm_the_chatbot_keeps_its_order(city, snow, graffiti, category):
    assert [o["id"] for o in category_options("en")] == ["cat:graffiti", "cat:pothole",
                                                         "cat:snow"]


# -- public read and dashboard -----------------------------------------------------------------

def test_the_active_mode_is_public_without_personal_data(api_client, storm):
    response = api_client.get("/api/v1/storm/active/", HTTP_ACCEPT_LANGUAGE="fa")

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "کولاک"
    assert body["categories"] == ["snow"]
    assert body["paused_categories"] == ["graffiti"]
    text = response.content.decode()
    assert "manager-1" not in text
    assert "mina@example.org" not in text


def test_no_active_mode_is_204(api_client, city):
    assert api_client.get("/api/v1/storm/active/").status_code == 204


def test_the_storm_dashboard_counts_reports_backlog_and_plows(dispatcher_client, storm, snow,
                                                               department):
    now = timezone.now()
    _submit(snow)
    report = report_submit(data=ReportInput(category_code="snow",
                                            lon=offset(*CENTRE, east_m=1500)[0],
                                            lat=CENTRE[1])).report
    Report.objects.filter(pk=report.pk).update(created_at=now - timedelta(hours=2))
    plow = Crew.objects.create(code="plow-1", name="Plow 1", skills=["plow"],
                               depot=Point(24.93, 60.17, srid=4326))
    CrewPosition.objects.create(crew=plow, location=Point(24.93, 60.17, srid=4326),
                                recorded_at=now - timedelta(minutes=3))
    Crew.objects.create(code="plow-idle", name="Idle plow", skills=["plow"],
                        depot=Point(24.93, 60.17, srid=4326))
    Crew.objects.create(code="asphalt-1", name="Asphalt", skills=["asphalt"],
                        depot=Point(24.93, 60.17, srid=4326), last_position_at=now)

    response = dispatcher_client.get("/api/v1/storm/dashboard/")

    assert response.status_code == 200
    body = response.json()
    assert len(body["incoming_per_hour"]) == 12
    assert body["incoming_per_hour"][-1]["reports"] == 1
    assert body["incoming_per_hour"][-3]["reports"] == 1
    assert sum(h["reports"] for h in body["incoming_per_hour"]) == 2
    assert body["backlog_by_district"] == [
        {"code": "east", "name": "East", "open": 1, "hazard": 1},
        {"code": "west", "name": "West", "open": 1, "hazard": 1},
    ]
    assert [p["code"] for p in body["plows_out"]] == ["plow-1"]


def test_the_storm_dashboard_is_for_staff(api_client, storm):
    assert api_client.get("/api/v1/storm/dashboard/").status_code in (401, 403)


# -- demo command and admin --------------------------------------------------------------------

def test_storm_demo_switches_the_demo_storm_on_and_off():
    from django.core.management import call_command

    from fixtures.city import demo_city_load

    demo_city_load()
    call_command("storm_demo", "--hours", "2")
    mode = emergency_mode_get_active()
    call_command("storm_demo", "--off")

    assert mode.hazard == "snow_storm"
    assert [c.code for c in mode.categories.all()] == ["fallen-tree", "snow-ice",
                                                         "traffic-signal"]
    assert emergency_mode_get_active() is None
    assert EmergencyMode.objects.get().cancelled_at is not None


def test_the_admin_refuses_an_end_time_in_the_past(client, city, snow, graffiti):
    admin = user_with_role(None, username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)

    response = client.post("/admin/crews/emergencymode/add/", {
        "area": city.pk, "hazard": "flood", "starts_at_0": "2020-01-01", "starts_at_1": "10:00",
        "ends_at_0": "2020-01-01", "ends_at_1": "12:00", "categories": [snow.pk],
        "priority_bonus": 20, "message_en": "Flood"}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "The end time is in the past." in response.content.decode()
    assert EmergencyMode.objects.count() == 0


def test_the_admin_switches_a_mode_on(client, city, snow, graffiti):
    admin = user_with_role(None, username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    later = timezone.localtime() + timedelta(hours=2)

    response = client.post("/admin/crews/emergencymode/add/", {
        "area": city.pk, "hazard": "flood", "starts_at_0": timezone.localtime().strftime("%Y-%m-%d"),
        "starts_at_1": (timezone.localtime() - timedelta(minutes=5)).strftime("%H:%M:%S"),
        "ends_at_0": later.strftime("%Y-%m-%d"), "ends_at_1": later.strftime("%H:%M:%S"),
        "categories": [snow.pk], "paused_categories": [graffiti.pk], "priority_bonus": 20,
        "message_en": "Flood"})

    assert response.status_code == 302, response.content.decode()[:2000]
    mode = EmergencyMode.objects.get()
    assert mode.created_by == admin
    assert [c.code for c in mode.paused_categories.all()] == ["graffiti"]


def test_the_admin_refuses_an_overlapping_mode(client, storm, city, snow):
    admin = user_with_role(None, username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    later = timezone.localtime() + timedelta(hours=2)

    response = client.post("/admin/crews/emergencymode/add/", {
        "area": city.pk, "hazard": "flood", "starts_at_0": timezone.localtime().strftime("%Y-%m-%d"),
        "starts_at_1": timezone.localtime().strftime("%H:%M:%S"),
        "ends_at_0": later.strftime("%Y-%m-%d"), "ends_at_1": later.strftime("%H:%M:%S"),
        "categories": [snow.pk], "priority_bonus": 20, "message_en": "Flood"},
        HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "Another storm mode of this area overlaps that time" in response.content.decode()
    assert EmergencyMode.objects.count() == 1
