"""Open data: the CSV and GeoJSON downloads hold exactly the published rows and columns
(filters, the on-time flag in working time across a weekend, merged incidents left out,
descriptions only where published), never a reporter's data; bad filters are refused;
rows stream from a server-side cursor; staff publish descriptions through the API and the
admin, recorded."""

import csv
import io
import json
from datetime import date, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.signals import request_finished
from django.db import close_old_connections, connection
from django.http import StreamingHttpResponse
from django.test import Client
from rest_framework.test import APIClient, APIRequestFactory

from fixtures.factories import CategoryFactory, DepartmentFactory
from incidents.api.opendata import IncidentsGeoJsonApi
from incidents.models import Incident, IncidentUpdate, Report, Status
from incidents.opendata import OpenDataFilters, opendata_chunks
from incidents.services import incident_merge
from incidents.services.feedback import report_confirm_fix
from incidents.services.opendata import incident_description_publish
from incidents.stats.calendar import business_days_ensure, business_days_layout, calendar_for
from ops.roles import Role
from tests.conftest import CENTRE, offset, user_with_role
from tests.incidents.history import at, last_change_stamp, move_at, report_stamp

pytestmark = pytest.mark.django_db

# A week long enough ago that the open incident is past its SLA now, whatever day it is.
WED, THU, FRI, SAT, SUN, MON, TUE = (date(2025, 10, 8) + timedelta(days=n) for n in range(7))
CSV_URL, GEOJSON_URL = "/open-data/incidents.csv", "/open-data/incidents.geojson"
LICENCE = {"name": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}
PRIVATE = ("Leila Example", "+358401234567", "leila@example.org", "Mikko Reporter",
           "+358409999999", "mikko@example.org", "Dana Merged", "+358405555555",
           "dana@example.org", "Erkki Caller", "+358406666666")



@pytest.fixture
def calendar(city):
    """UTC, Friday and Saturday off, working 08:00–16:00 (an SLA of 24 h is 8 working
    hours)."""
    calendar = calendar_for(city)
    calendar.timezone, calendar.weekend = "UTC", [5, 6]
    calendar.day_starts, calendar.day_ends = time(8), time(16)
    calendar.save()
    business_days_layout(calendar=calendar, until=date(2027, 12, 31))
    return calendar


@pytest.fixture
def streetlight():
    lighting = DepartmentFactory(code="lighting", name_en="Lighting")
    return CategoryFactory(code="streetlight", department=lighting, name_en="Street light",
                           name_ar="إنارة", name_fa="چراغ", sla_hours=48)






@pytest.fixture
def week(calendar, category, streetlight, make_report, dispatcher):
    """Four published incidents and a merged one (times UTC; pothole SLA 24 h = 8 working
    hours, street light 48 h = 16):

    A  pothole, west, web: Thu 15:00; resolved Sun 10:00 (3 working hours: on time, though
       43 wall-clock hours), confirmed fixed Sun 12:00; description published
    B  pothole, west, phone: Wed 09:00; resolved Sun 10:00 (17 working hours: overdue)
    C  pothole, east, sms: Thu 14:00; verified, still open (long past its 8 hours)
    D  pothole, west, web: Thu 15:10, 100 m from A; merged into A (left out)
    E  street light, east, whatsapp: Fri 10:00 (the weekend); rejected Fri 11:00
    """
    category.sla_hours = 24
    category.save()
    a = make_report(category, description="Deep hole by the tram stop", channel="web",
                    reporter_name="Leila Example", reporter_phone="+358401234567",
                    reporter_email="leila@example.org")
    b = make_report(category, *offset(*CENTRE, north_m=200), channel="phone",
                    description="My number is +358409999999, Mikko Reporter",
                    reporter_name="Mikko Reporter", reporter_phone="+358409999999",
                    reporter_email="mikko@example.org")
    c = make_report(category, 24.95, 60.17, channel="sms", description="Hole on the corner",
                    reporter_phone="+358406666666", reporter_name="Erkki Caller")
    d = make_report(category, *offset(*CENTRE, east_m=100), channel="web",
                    description="Same hole", reporter_name="Dana Merged",
                    reporter_phone="+358405555555", reporter_email="dana@example.org")
    e = make_report(streetlight, 24.955, 60.175, channel="whatsapp", description="Dark")
    a, b = report_stamp(a, at(THU, 15)), report_stamp(b, at(WED, 9))
    c = report_stamp(c, at(THU, 14))
    d, e = report_stamp(d, at(THU, 15, 10)), report_stamp(e, at(FRI, 10))
    move_at(b.incident_id, Status.VERIFIED, at(WED, 10), dispatcher)
    move_at(b.incident_id, Status.ASSIGNED, at(WED, 11), dispatcher)
    move_at(b.incident_id, Status.ON_SITE, at(SUN, 9), dispatcher)
    move_at(b.incident_id, Status.RESOLVED, at(SUN, 10), dispatcher)
    move_at(c.incident_id, Status.VERIFIED, at(THU, 14, 30), dispatcher)
    incident_merge(source=Incident.objects.get(pk=d.incident_id),
                   target=Incident.objects.get(pk=a.incident_id), by=dispatcher)
    move_at(a.incident_id, Status.VERIFIED, at(THU, 15, 30), dispatcher)
    move_at(a.incident_id, Status.ASSIGNED, at(THU, 15, 40), dispatcher)
    move_at(a.incident_id, Status.ON_SITE, at(SUN, 9), dispatcher)
    move_at(a.incident_id, Status.RESOLVED, at(SUN, 10), dispatcher)
    report_confirm_fix(report=a)
    last_change_stamp(a.incident_id, at(SUN, 12))
    move_at(e.incident_id, Status.REJECTED, at(FRI, 11), dispatcher, note="Not ours")
    incident_description_publish(incident=Incident.objects.get(pk=a.incident_id),
                                 publish=True, by=dispatcher)
    reports = {"a": a, "b": b, "c": c, "d": d, "e": e}
    return {name: report.incident_id for name, report in reports.items()} | {
        "reports": reports}


def _expected(week) -> dict[str, list[str]]:
    return {
        "a": [str(week["a"]), "2025-10-09T15:00:00Z", "2025-10-12T15:00:00Z",
              "2025-10-12T10:00:00Z", "2025-10-12T12:00:00Z", "closed", "closed", "on_time",
              "web", "west", "West", "pothole", "Pothole", "roads", "Roads",
              "60.1700", "24.9309", "2", "Deep hole by the tram stop"],
        "b": [str(week["b"]), "2025-10-08T09:00:00Z", "2025-10-09T09:00:00Z",
              "2025-10-12T10:00:00Z", "", "resolved", "closed", "overdue",
              "phone", "west", "West", "pothole", "Pothole", "roads", "Roads",
              "60.1718", "24.9300", "1", ""],
        "c": [str(week["c"]), "2025-10-09T14:00:00Z", "2025-10-12T14:00:00Z", "", "",
              "verified", "open", "overdue", "sms", "east", "East", "pothole", "Pothole",
              "roads", "Roads", "60.1700", "24.9500", "1", ""],
        "e": [str(week["e"]), "2025-10-10T10:00:00Z", "2025-10-13T16:00:00Z", "",
              "2025-10-10T11:00:00Z", "rejected", "closed", "", "whatsapp", "east", "East",
              "streetlight", "Street light", "lighting", "Lighting", "60.1750", "24.9550",
              "1", ""],
    }


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_csv_holds_exactly_the_published_rows_and_columns(api_client, week):
    response = api_client.get(CSV_URL)

    rows = _csv(response)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert rows[0] == ["id", "opened_at", "due_at", "resolved_at", "closed_at", "status",
                       "state", "on_time", "channel", "district_code", "district_name",
                       "category_code", "category_name", "department_code",
                       "department_name", "latitude", "longitude", "report_count",
                       "description"]
    expected = _expected(week)
    assert rows[1:] == [expected[k] for k in sorted(expected, key=lambda k: week[k])]


def test_names_follow_the_readers_language(api_client, week):
    response = api_client.get(CSV_URL, {"district": "west", "status": "resolved"},
                              HTTP_ACCEPT_LANGUAGE="ar")

    rows = _csv(response)
    assert (rows[1][10], rows[1][12], rows[1][14]) == ("الغرب", "حفرة", "قسم")


def test_the_geojson_holds_the_same_incidents_as_points(api_client, week):
    response = api_client.get(GEOJSON_URL)

    collection = json.loads(b"".join(response.streaming_content))
    expected = _expected(week)
    assert response["Content-Type"] == "application/geo+json; charset=utf-8"
    assert (collection["type"], collection["licence"]) == ("FeatureCollection", LICENCE)
    assert [f["id"] for f in collection["features"]] == sorted(week[k] for k in expected)
    feature = collection["features"][[f["id"] for f in collection["features"]].index(week["a"])]
    assert feature["geometry"] == {"type": "Point", "coordinates": [24.9309, 60.17]}
    assert feature["properties"] == {
        "id": week["a"], "opened_at": "2025-10-09T15:00:00Z",
        "due_at": "2025-10-12T15:00:00Z", "resolved_at": "2025-10-12T10:00:00Z",
        "closed_at": "2025-10-12T12:00:00Z", "status": "closed", "state": "closed",
        "on_time": "on_time", "channel": "web", "district_code": "west",
        "district_name": "West", "category_code": "pothole", "category_name": "Pothole",
        "department_code": "roads", "department_name": "Roads", "report_count": 2,
        "description": "Deep hole by the tram stop"}


@pytest.mark.parametrize("url", [CSV_URL, GEOJSON_URL])
def test_no_reporter_data_is_ever_published(api_client, week, url):
    reports = Report.objects.filter(incident_id__in=[week[k] for k in "abcde"])
    secrets = [*PRIVATE, *(r.tracking_code for r in reports), *(str(r.token) for r in reports)]

    body = b"".join(api_client.get(url).streaming_content).decode("utf-8")

    assert [s for s in secrets if s in body] == []
    assert "Same hole" not in body  # the merged incident's report, never published


@pytest.mark.parametrize(("now", "flag"), [(at(SAT, 12), "on_time"), (at(SUN, 14), "on_time"),
                                           (at(SUN, 14, 1), "overdue"),
                                           (at(MON, 8, 30), "overdue")])
def test_an_open_incident_is_overdue_once_its_working_hours_run_out(week, now, flag):
    # C: Thursday 14:00–16:00 is 2 working hours, then none until Sunday 08:00; its 8 hours
    # run out on Sunday at 14:00.
    chunks = opendata_chunks(filters=OpenDataFilters(statuses=("verified",)), now=now)

    rows = [row for chunk in chunks for row in chunk]

    assert [(row[0], row[7]) for row in rows] == [(week["c"], flag)]


@pytest.mark.parametrize(("params", "names"), [
    ({}, "abce"),
    ({"opened_from": "2025-10-09"}, "ace"),
    ({"opened_to": "2025-10-08"}, "b"),
    ({"opened_from": "2025-10-09", "opened_to": "2025-10-09"}, "ac"),
    ({"category": "streetlight"}, "e"),
    ({"category": "pothole,streetlight"}, "abce"),
    ({"district": "east"}, "ce"),
    ({"district": "west,east", "status": "open"}, "c"),
    ({"status": "closed"}, "abe"),
    ({"status": "resolved,rejected"}, "be"),
    ({"status": "closed", "category": "pothole", "opened_from": "2025-10-09"}, "a"),
])
def test_filters_choose_the_rows(api_client, week, params, names):
    rows = _csv(api_client.get(CSV_URL, params))

    assert [int(row[0]) for row in rows[1:]] == sorted(week[n] for n in names)


def test_a_list_filter_may_be_repeated(api_client, week):
    rows = _csv(api_client.get(f"{CSV_URL}?district=west&district=east&status=rejected"))

    assert [int(row[0]) for row in rows[1:]] == [week["e"]]


def _snapshot() -> list[tuple]:
    incidents = Incident.objects.order_by("pk").values_list(
        "pk", "status", "publish_description", "version", "updated_at")
    return [*incidents, (IncidentUpdate.objects.count(),)]


@pytest.mark.parametrize(("params", "field", "detail"), [
    ({"opened_from": "2025-13-01"}, "opened_from",
     "“2025-13-01” is not a date: write it as YYYY-MM-DD, like 2026-10-31."),
    ({"opened_to": "9/10/2025"}, "opened_to",
     "“9/10/2025” is not a date: write it as YYYY-MM-DD, like 2026-10-31."),
    ({"opened_from": "2025-10-10", "opened_to": "2025-10-09"}, "opened_to",
     "The start date (2025-10-10) is after the end date (2025-10-09)."),
    ({"district": "west,north"}, "district",
     "There is no district “north”. The districts are: east, west."),
    ({"category": "graffiti"}, "category",
     "There is no category “graffiti”. The categories are: pothole, streetlight."),
    ({"status": "merged"}, "status",
     "“merged” is not a status you can ask for. Use open, closed or one of: new, verified, "
     "assigned, en_route, on_site, reopened, referred, resolved, closed, rejected."),
])
@pytest.mark.parametrize("url", [CSV_URL, GEOJSON_URL])
def test_a_bad_filter_is_refused_with_the_reason(api_client, week, url, params, field,
                                                 detail):
    before = _snapshot()

    response = api_client.get(url, params, HTTP_ACCEPT="text/csv")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": detail, "code": "invalid", "errors": {field: [detail]}}
    assert _snapshot() == before


def test_a_refusal_is_in_the_readers_language(api_client, week):
    response = api_client.get(CSV_URL, {"district": "north"}, HTTP_ACCEPT_LANGUAGE="fa")

    assert (response.status_code, response["Content-Language"]) == (400, "fa")


def test_every_problem_of_a_request_is_named_at_once(api_client, week):
    response = api_client.get(CSV_URL, {"opened_from": "soon", "district": "north",
                                        "category": "graffiti"})

    assert sorted(response.json()["errors"]) == ["category", "district", "opened_from"]


def test_the_licence_is_linked_from_every_download(api_client, week):
    response = api_client.get(GEOJSON_URL)

    assert response["Link"] == ('<https://creativecommons.org/licenses/by/4.0/>; '
                                'rel="license"; title="CC BY 4.0"')
    assert response["Content-Disposition"].startswith('attachment; filename="rasad-incidents-')


def test_the_licence_is_a_setting(api_client, week, settings):
    settings.RASAD_OPEN_DATA_LICENCE = "ODbL 1.0"
    settings.RASAD_OPEN_DATA_LICENCE_URL = "https://opendatacommons.org/licenses/odbl/1-0/"

    response = api_client.get(GEOJSON_URL)

    assert json.loads(b"".join(response.streaming_content))["licence"] == {
        "name": "ODbL 1.0", "url": "https://opendatacommons.org/licenses/odbl/1-0/"}
    assert response["Link"].startswith("<https://opendatacommons.org/licenses/odbl/1-0/>")


def _open_cursors() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT is_holdable, statement LIKE '%%incidents_businessday%%' "
                       "FROM pg_cursors")
        return cursor.fetchall()


def test_rows_stream_from_a_server_side_cursor_chunk_by_chunk(api_client, week, settings):
    settings.RASAD_OPEN_DATA_CHUNK_ROWS = 1

    response = api_client.get(CSV_URL)
    pieces = iter(response.streaming_content)
    header = next(pieces)
    cursors_before_rows = _open_cursors()
    first_row = next(pieces)
    cursors_while_reading = _open_cursors()
    rest = list(pieces)

    assert isinstance(response, StreamingHttpResponse)
    assert header.startswith(b"\xef\xbb\xbfid,opened_at,")
    assert cursors_before_rows == []  # nothing is read until the rows are asked for
    assert first_row.startswith(f"{week['a']},".encode())
    # one cursor, open while the rows are fetched, not materialised (WITH HOLD) up front
    assert cursors_while_reading == [(False, True)]
    assert (len(rest), _open_cursors()) == (3, [])


def test_a_download_cut_off_ends_its_cursor(week, settings):
    settings.RASAD_OPEN_DATA_CHUNK_ROWS = 1
    response = IncidentsGeoJsonApi.as_view()(APIRequestFactory().get(GEOJSON_URL))
    pieces = iter(response.streaming_content)
    next(pieces), next(pieces)

    # As a server does when the client goes away (without the end-of-request signal closing
    # the test's connection, as the test client does).
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)

    assert _open_cursors() == []


def test_a_big_export_reads_in_a_fixed_number_of_queries(django_assert_max_num_queries,
                                                         settings):
    from fixtures.city import demo_city_load
    from fixtures.generator import reports_generate

    area = demo_city_load()
    reports_generate(area=area, count=600, seed=7, days=120)
    business_days_ensure(area=area)  # laid out once (the rollups' refresh does it)
    settings.RASAD_OPEN_DATA_CHUNK_ROWS = 50
    published = Incident.objects.exclude(status=Status.MERGED).count()

    with django_assert_max_num_queries(8):
        response = Client().get(CSV_URL)
        pieces = list(response.streaming_content)

    rows = list(csv.reader(io.StringIO(b"".join(pieces).decode("utf-8-sig"))))
    assert (len(rows) - 1, len(pieces)) == (published, 1 + -(-published // 50))
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(
        Incident.objects.exclude(status=Status.MERGED).values_list("pk", flat=True))
    assert {r[7] for r in rows[1:]} <= {"on_time", "overdue", ""}


def test_a_formula_in_a_published_description_is_not_run_by_spreadsheets(api_client, week,
                                                                         dispatcher):
    Report.objects.filter(pk=week["reports"]["a"].pk).update(description="=HYPERLINK(1)")

    rows = _csv(api_client.get(CSV_URL, {"status": "closed", "category": "pothole"}))

    assert rows[1][-1] == "'=HYPERLINK(1)"


# Publishing a description (dispatchers, recorded)


def test_a_dispatcher_publishes_a_description(dispatcher_client, dispatcher, week, api_client):
    response = dispatcher_client.post(f"/api/v1/incidents/{week['b']}/publish/",
                                      {"publish": True}, format="json")

    incident = Incident.objects.get(pk=week["b"])
    note = IncidentUpdate.objects.filter(incident_id=week["b"]).order_by("-pk").first()
    assert response.status_code == 200
    assert response.json() == {"id": week["b"], "publish_description": True,
                               "version": incident.version}
    assert (note.note, note.public, note.by, note.to_status) == (
        "Description published in the open data.", False, dispatcher, "")
    rows = _csv(api_client.get(CSV_URL, {"status": "resolved"}))
    assert rows[1][-1] == "My number is +358409999999, Mikko Reporter"


def test_a_dispatcher_withdraws_a_description(dispatcher_client, week, api_client):
    response = dispatcher_client.post(f"/api/v1/incidents/{week['a']}/publish/",
                                      {"publish": False}, format="json")

    note = IncidentUpdate.objects.filter(incident_id=week["a"]).order_by("-pk").first()
    assert (response.status_code, response.json()["publish_description"]) == (200, False)
    assert note.note == "Description withdrawn from the open data."
    rows = _csv(api_client.get(CSV_URL, {"status": "closed", "category": "pothole"}))
    assert rows[1][-1] == ""


def test_publishing_what_is_already_published_records_nothing(dispatcher_client, week):
    before = _snapshot()

    response = dispatcher_client.post(f"/api/v1/incidents/{week['a']}/publish/",
                                      {"publish": True}, format="json")

    assert (response.status_code, _snapshot()) == (200, before)


def _client_for(role: str | None, department=None) -> APIClient:
    client = APIClient()
    if role is not None:
        user = user_with_role(role, username=f"{role}-other")
        if department is not None:
            user.departments.add(department)
        client.force_authenticate(user)
    return client


@pytest.mark.parametrize(("who", "body", "status"), [
    ("anonymous", {"publish": True}, 403),
    (Role.CITIZEN, {"publish": True}, 403),
    (Role.MANAGER, {"publish": True}, 403),
    (Role.INTAKE_AGENT, {"publish": True}, 403),
    ("other-department", {"publish": True}, 403),
    ("dispatcher", {"publish": "maybe"}, 400),
    ("dispatcher", {}, 400),
])
def test_publishing_is_refused_to_others_and_for_bad_input(week, dispatcher_client, who, body,
                                                           status):
    if who == "dispatcher":
        client = dispatcher_client
    elif who == "other-department":
        client = _client_for(Role.DISPATCHER, DepartmentFactory(code="water"))
    else:
        client = _client_for(None if who == "anonymous" else who)
    before = _snapshot()

    response = client.post(f"/api/v1/incidents/{week['b']}/publish/", body, format="json")

    assert (response.status_code, _snapshot()) == (status, before)
    assert response.json()["detail"]


def test_publishing_an_unknown_incident_is_not_found(dispatcher_client, week):
    response = dispatcher_client.post("/api/v1/incidents/999999/publish/", {"publish": True},
                                      format="json")

    assert response.status_code == 404


def test_the_admin_publishes_descriptions_in_bulk(week, api_client):
    admin_user = get_user_model().objects.create_superuser("boss", "boss@example.org", "pw")
    client = Client()
    client.force_login(admin_user)

    response = client.post("/admin/incidents/incident/", {
        "action": "description_publish", "_selected_action": [week["b"], week["c"]]})

    assert response.status_code == 302
    assert list(Incident.objects.filter(publish_description=True).order_by("pk")
                .values_list("pk", flat=True)) == sorted([week["a"], week["b"], week["c"]])
    notes = IncidentUpdate.objects.filter(incident_id__in=[week["b"], week["c"]],
                                          note="Description published in the open data.")
    assert sorted((n.incident_id, n.by_id, n.public) for n in notes) == sorted(
        [(week["b"], admin_user.pk, False), (week["c"], admin_user.pk, False)])


def test_the_admin_leaves_other_departments_incidents_alone(week):
    staff = user_with_role(Role.DISPATCHER, username="lights-desk", is_staff=True)
    staff.departments.add(DepartmentFactory(code="water"))
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="view_incident"))
    client = Client()
    client.force_login(staff)
    before = _snapshot()

    client.post("/admin/incidents/incident/", {
        "action": "description_publish", "_selected_action": [week["b"]]})

    assert _snapshot() == before
