"""The console's data: the map API (GET /api/v1/map/incidents/: grid clusters at low zoom,
capped points at high zoom, changes since a moment, filters, permissions, a constant number
of queries), the live socket's consumer, and the console page's own access rules."""

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from django.contrib.gis.geos import Polygon
from django.db import connection, connections
from django.utils import timezone
from rest_framework.test import APIClient

from fixtures.factories import CategoryFactory
from incidents import selectors_map
from incidents.events import LIVE_GROUP
from incidents.models import Channel, Incident, Status
from incidents.services import ReportInput, incident_transition, report_submit
from map_ui.routing import websocket_urlpatterns
from ops.roles import Role
from tests.conftest import CENTRE, offset, user_with_role

pytestmark = pytest.mark.django_db

MAP = "/api/v1/map/incidents/"
# A box of about 1.7 km × 1.1 km inside the test city (24.92..24.96 E, 60.16..60.18 N), with
# the test centre (24.93 E, 60.17 N) 280 m from its western edge and 560 m from its northern.
LON, LAT = CENTRE
BOX = f"{LON - 0.005},{LAT - 0.005},{LON + 0.025},{LAT + 0.005}"


def _incident_at(category, *, east_m: float = 0, north_m: float = 0, **fields) -> Incident:
    lon, lat = offset(*CENTRE, east_m=east_m, north_m=north_m)
    report = report_submit(data=ReportInput(category_code=category.code, lon=lon, lat=lat,
                                            **fields)).report
    return Incident.objects.get(pk=report.incident_id)


def _grid(category, columns: int = 4, rows: int = 3, spacing_m: float = 100) -> list[Incident]:
    """columns × rows separate incidents (100 m apart: beyond the 30 m clustering radius)."""
    return [_incident_at(category, east_m=c * spacing_m, north_m=r * spacing_m)
            for r in range(rows) for c in range(columns)]


@pytest.fixture
def console_client(city, district, district_east):
    client = APIClient()
    client.force_authenticate(user_with_role(Role.DISPATCHER, is_staff=True))
    return client


def _get(client, **params):
    response = client.get(MAP, {"bbox": BOX, "zoom": 13, **params})
    assert response.status_code == 200, response.content
    return response.json()


def _point_ids(body) -> set[int]:
    return {f["properties"]["id"] for f in body["features"] if not f["properties"]["cluster"]}


# --- clusters -----------------------------------------------------------------------------

def test_low_zoom_clusters_count_every_incident_in_the_box_once(console_client, category):
    # given: 12 incidents in the box and 2 outside it (still in the city)
    inside = _grid(category)
    _incident_at(category, north_m=800)
    _incident_at(category, east_m=-400)

    # when
    body = _get(console_client, zoom=13)

    # then
    counts = [f["properties"]["count"] if f["properties"]["cluster"] else 1
              for f in body["features"]]
    assert (body["mode"], body["total"], sum(counts), body["truncated"]) == (
        "clusters", len(inside), 12, False)
    assert any(f["properties"]["cluster"] for f in body["features"])


def test_cluster_carries_max_priority_breach_and_status_counts(console_client, category):
    # given: three incidents 40 m apart (one cell at zoom 13), one verified, one overdue
    incidents = [_incident_at(category, east_m=e * 40) for e in range(3)]
    incident_transition(incident=incidents[0], to=Status.VERIFIED)
    Incident.objects.filter(pk=incidents[1].pk).update(priority=88.5,
                                                       sla_due_at=timezone.now() - timedelta(hours=1))

    # when
    body = _get(console_client, zoom=13)

    # then
    (feature,) = body["features"]
    p = feature["properties"]
    assert (p["cluster"], p["count"], p["max_priority"], p["sla_breached"], p["statuses"],
            p["status"], p["reports"]) == (True, 3, 88.5, True, {"new": 2, "verified": 1},
                                           "new", 3)
    lon, lat = feature["geometry"]["coordinates"]
    assert (lon, lat) == (pytest.approx(offset(*CENTRE, east_m=40)[0], abs=1e-6),
                          pytest.approx(LAT, abs=1e-6))


def test_a_cell_with_one_incident_is_drawn_as_that_incident(console_client, category):
    # given
    incident = _incident_at(category)

    # when
    body = _get(console_client, zoom=13)

    # then
    (feature,) = body["features"]
    assert feature["properties"] == {
        "cluster": False, "id": incident.pk, "status": "new", "priority": incident.priority,
        "category_id": category.pk, "sla_breached": False, "report_count": 1}


def test_cells_get_smaller_as_the_zoom_grows(console_client, category):
    # given: 8 incidents 300 m apart
    _grid(category, columns=4, rows=2, spacing_m=300)

    # when
    coarse = _get(console_client, zoom=12)
    fine = _get(console_client, zoom=15)

    # then: at 15 a cell is ~170 m wide, so each incident has a cell of its own
    assert len(coarse["features"]) < len(fine["features"]) == 8
    assert coarse["cell_deg"][0] == pytest.approx(2 * 2 * 2 * fine["cell_deg"][0])


def test_cell_is_square_on_screen_at_the_city_latitude():
    width, height = selectors_map.cell_size_deg(zoom=14, lat=60.0)

    assert (width, height) == (pytest.approx(360 / 2 ** 14 * 72 / 256),
                               pytest.approx(width * 0.5))


# --- points -------------------------------------------------------------------------------

def test_high_zoom_returns_the_incidents_in_the_box_most_urgent_first(console_client, category):
    # given
    near = _incident_at(category)
    urgent = _incident_at(category, east_m=100)
    Incident.objects.filter(pk=urgent.pk).update(priority=99)
    _incident_at(category, north_m=800)

    # when
    body = _get(console_client, zoom=17)

    # then
    assert (body["mode"], body["total"], body["truncated"]) == ("points", 2, False)
    assert [f["id"] for f in body["features"]] == [urgent.pk, near.pk]
    assert body["features"][1]["properties"] == {
        "cluster": False, "id": near.pk, "status": "new", "priority": near.priority,
        "category_id": category.pk, "report_count": 1, "sla_breached": False}


def test_points_are_capped_and_say_so(console_client, category, monkeypatch):
    # given
    _grid(category, columns=5, rows=1)
    monkeypatch.setattr(selectors_map, "POINTS_CAP", 3)

    # when
    body = _get(console_client, zoom=17)

    # then
    assert (body["total"], len(body["features"]), body["truncated"]) == (5, 3, True)


def test_side_list_has_the_first_report_text_unescaped_for_the_page_to_escape(
        console_client, category):
    # given
    incident = _incident_at(category, description="<img src=x onerror=alert(1)>",
                            address="Mannerheimintie 1")

    # when
    body = _get(console_client)

    # then
    (item,) = body["list"]
    assert (item["id"], item["summary"], item["address"], item["status"]) == (
        incident.pk, "<img src=x onerror=alert(1)>", "Mannerheimintie 1", "new")


# --- filters ------------------------------------------------------------------------------

def test_default_shows_open_incidents_only(console_client, category):
    # given
    open_one, rejected = _incident_at(category), _incident_at(category, east_m=100)
    incident_transition(incident=rejected, to=Status.REJECTED, note="spam")

    # when
    body = _get(console_client, zoom=17)

    # then
    assert _point_ids(body) == {open_one.pk}


@pytest.mark.parametrize(("params", "expected"), [
    ({"status": "verified"}, {"verified"}),
    ({"status": "new,rejected"}, {"new", "light", "east", "phone", "overdue", "rejected"}),
    ({"category": "streetlight"}, {"light"}),
    ({"district": "east"}, {"east"}),
    ({"channel": "phone"}, {"phone"}),
    ({"sla_breached": "true"}, {"overdue"}),
    ({"max_age_h": "24"}, {"new", "verified", "light", "east", "phone"}),
    ({"min_age_h": "24"}, {"overdue"}),
])
def test_filters_narrow_clusters_and_points_alike(console_client, category, params, expected):
    # given: incidents 100 m apart, each different in one way
    light = CategoryFactory(code="streetlight", department=category.department)
    made = {
        "new": _incident_at(category),
        "verified": _incident_at(category, east_m=100),
        "rejected": _incident_at(category, east_m=200),
        "light": _incident_at(light, east_m=300),
        "east": _incident_at(category, east_m=1200),  # past 24.94 E: the east district
        "phone": _incident_at(category, north_m=100, channel=Channel.PHONE),
        "overdue": _incident_at(category, north_m=200),
    }
    incident_transition(incident=made["verified"], to=Status.VERIFIED)
    incident_transition(incident=made["rejected"], to=Status.REJECTED, note="duplicate")
    Incident.objects.filter(pk=made["overdue"].pk).update(
        first_reported_at=timezone.now() - timedelta(days=4),
        sla_due_at=timezone.now() - timedelta(days=1))
    names = {incident.pk: name for name, incident in made.items()}

    # when
    points = _get(console_client, zoom=17, bbox=BOX, **params)
    clusters = _get(console_client, zoom=13, bbox=BOX, **params)

    # then
    assert {names[i] for i in _point_ids(points)} == expected
    assert {names[item["id"]] for item in points["list"]} == expected
    assert clusters["total"] == len(expected)


def test_mine_keeps_my_departments_incidents(city, district, district_east, category):
    # given: the dispatcher works for roads only
    other = CategoryFactory(code="garbage")
    mine, _theirs = _incident_at(category), _incident_at(other, east_m=100)
    user = user_with_role(Role.DISPATCHER, is_staff=True)
    user.departments.add(category.department)
    client = APIClient()
    client.force_authenticate(user)

    # when
    body = _get(client, zoom=17, mine="true")

    # then
    assert _point_ids(body) == {mine.pk}


# --- changes since ------------------------------------------------------------------------

def test_since_returns_what_changed_meanwhile_whatever_its_status(console_client, category):
    # given: one incident untouched, one rejected and one created after `since`
    untouched = _incident_at(category)
    rejected = _incident_at(category, east_m=100)
    Incident.objects.update(updated_at=timezone.now() - timedelta(minutes=10))
    since = timezone.now() - timedelta(minutes=1)
    incident_transition(incident=rejected, to=Status.REJECTED, note="not a pothole")
    created = _incident_at(category, east_m=200)

    # when
    body = _get(console_client, zoom=13, since=since.isoformat())

    # then
    assert body["mode"] == "changes"
    assert {f["id"]: f["properties"]["status"] for f in body["features"]} == {
        rejected.pk: "rejected", created.pk: "new"}
    assert untouched.pk not in _point_ids(body)
    assert "list" not in body


# --- validation and permissions -----------------------------------------------------------

@pytest.mark.parametrize("params", [
    {"bbox": "1,2,3", "zoom": 12},
    {"bbox": "10,10,5,20", "zoom": 12},
    {"bbox": BOX, "zoom": 40},
    {"bbox": BOX, "zoom": 12, "status": "lost"},
    {"bbox": BOX, "zoom": 12, "channel": "pigeon"},
    {"zoom": 12},
])
def test_bad_parameters_are_refused(console_client, params):
    response = console_client.get(MAP, params)

    assert response.status_code == 400


@pytest.mark.parametrize(("role", "status"), [
    (Role.DISPATCHER, 200), (Role.INTAKE_AGENT, 200), (Role.MANAGER, 200),
    (Role.CREW, 403), (Role.CITIZEN, 403), (None, 403),
])
def test_only_console_roles_read_the_map(city, role, status):
    client = APIClient()
    client.force_authenticate(user_with_role(role))

    response = client.get(MAP, {"bbox": BOX, "zoom": 12})

    assert response.status_code == status


def test_anonymous_cannot_read_the_map(api_client):
    response = api_client.get(MAP, {"bbox": BOX, "zoom": 12})

    assert response.status_code in (401, 403)
    assert "features" not in response.json()


# --- queries ------------------------------------------------------------------------------

@pytest.mark.parametrize("incidents", [1, 12])
@pytest.mark.parametrize(("zoom", "queries"), [
    # savepoint, map settings, clusters, side list, release
    (13, 5),
    # savepoint, map settings, points, side list, release
    (17, 5),
])
def test_map_data_takes_a_constant_number_of_queries(console_client, category,
                                                     django_assert_num_queries, incidents,
                                                     zoom, queries):
    # given: roles already looked up once for this user
    _grid(category, columns=incidents, rows=1)
    _get(console_client)

    # when / then
    with django_assert_num_queries(queries):
        _get(console_client, zoom=zoom, category="pothole", channel="web")


def test_box_filter_matches_the_planar_index_expression(city, category):
    # given: the index is the only way to the rows
    _incident_at(category)
    box = Polygon.from_bbox((LON - 0.01, LAT - 0.01, LON + 0.01, LAT + 0.01))
    box.srid = 4326
    queryset = selectors_map.incident_list_map(bbox=box, filters=selectors_map.MapFilters(),
                                               now=timezone.now())

    # when
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()

    # then
    assert "incident_location_planar" in plan


# --- the console page ---------------------------------------------------------------------

def test_console_sends_anonymous_visitors_to_sign_in(client):
    response = client.get("/console/")

    assert (response.status_code, response["Location"]) == (
        302, "/accounts/login/?next=/console/")


@pytest.mark.parametrize(("role", "status"), [
    (Role.DISPATCHER, 200), (Role.INTAKE_AGENT, 200), (Role.MANAGER, 200),
    (Role.CREW, 403), (Role.CITIZEN, 403),
])
def test_console_is_for_dispatchers_agents_and_managers(client, city, role, status):
    client.force_login(user_with_role(role))

    response = client.get("/console/")

    assert response.status_code == status


def test_console_page_carries_its_config_and_local_assets(client, city, district, category):
    client.force_login(user_with_role(Role.DISPATCHER))

    response = client.get("/console/")

    html = response.content.decode()
    assert 'id="rasad-config"' in html
    assert "/static/map_ui/js/console.js" in html
    assert "/static/vendor/leaflet.heat/leaflet-heat.js" in html
    assert "unpkg.com" not in html
    assert "cdn.jsdelivr" not in html
    config = response.context["config"]
    assert (config["can_dispatch"], config["urls"]["live"]) == (True, "/ws/live/")
    assert {c["code"] for c in config["categories"]} == {"pothole"}
    assert {d["code"] for d in config["districts"]} == {"west"}


# --- the live socket ----------------------------------------------------------------------

@pytest.fixture
def own_channel_layer(settings):
    """The real Redis layer under a prefix of this test's own: no other test run's events."""
    settings.CHANNEL_LAYERS = {"default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": settings.REDIS_URL, "socket_timeout": None}],
                   "prefix": f"rasad-test-{uuid.uuid4().hex}"}}}
    return get_channel_layer()


class Socket(ApplicationCommunicator):
    """The websocket side of ASGI, as uvicorn speaks it to the routing (channels.testing
    would need daphne)."""

    def __init__(self, user):
        super().__init__(URLRouter(websocket_urlpatterns), {
            "type": "websocket", "path": "/ws/live/", "query_string": b"", "headers": [],
            "subprotocols": [], "user": user})

    async def connect(self) -> tuple[bool, int | None]:
        await self.send_input({"type": "websocket.connect"})
        answer = await self.receive_output(5)
        if answer["type"] == "websocket.close":
            return False, answer.get("code")
        return True, None

    async def send_json_to(self, data) -> None:
        await self.send_input({"type": "websocket.receive", "text": json.dumps(data)})

    async def send_to(self, *, text_data: str) -> None:
        await self.send_input({"type": "websocket.receive", "text": text_data})

    async def receive_json_from(self, timeout: float = 5):
        return json.loads((await self.receive_output(timeout))["text"])

    async def disconnect(self) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.wait(5)


def _socket(user) -> Socket:
    return Socket(user)


def run_async(scenario):
    """Run a coroutine on a loop in a thread of its own (in a run with the browser tests,
    Playwright's loop owns this thread), closing the connections the consumer opened."""

    async def and_close():
        try:
            return await scenario
        finally:
            await database_sync_to_async(connections.close_all)()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, and_close()).result()


def test_live_socket_greets_answers_pings_and_forwards_events(own_channel_layer):
    # given
    user = user_with_role(Role.DISPATCHER, is_staff=True)
    event = {"kind": "incident.created", "incident_id": 7, "status": "new", "lon": 24.93,
             "lat": 60.17}

    async def scenario():
        socket = _socket(user)
        connected, _ = await socket.connect()
        hello = await socket.receive_json_from(timeout=5)
        await socket.send_json_to({"type": "ping", "t": 123})
        pong = await socket.receive_json_from(timeout=5)
        await socket.send_to(text_data="not json")  # ignored, the socket stays
        await own_channel_layer.group_send(LIVE_GROUP, {"type": "incident.event",
                                                        "event": event})
        pushed = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return connected, hello, pong, pushed

    # when
    connected, hello, pong, pushed = run_async(scenario())

    # then
    assert connected is True
    assert (hello["kind"], pong["kind"], pong["t"]) == ("hello", "pong", 123)
    assert hello["server_time"] <= pong["server_time"]
    assert pushed == event


# The consumer reads roles from another thread: the user must be committed.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", [Role.CITIZEN, None])
def test_live_socket_refuses_non_staff(own_channel_layer, role):
    async def scenario():
        socket = _socket(user_with_role(role))
        return await socket.connect()

    connected, code = run_async(scenario())

    assert (connected, code) == (False, 4403)


def test_live_socket_forwards_a_batch_as_one_frame_per_event(own_channel_layer):
    user = user_with_role(Role.DISPATCHER, is_staff=True)
    events = [{"kind": "incident.created", "incident_id": i, "status": "new"} for i in (1, 2, 3)]

    async def scenario():
        socket = _socket(user)
        await socket.connect()
        await socket.receive_json_from(timeout=5)  # hello
        await own_channel_layer.group_send(LIVE_GROUP, {"type": "incident.events",
                                                        "events": events})
        pushed = [await socket.receive_json_from(timeout=5) for _ in events]
        await socket.disconnect()
        return pushed

    assert run_async(scenario()) == events


def test_publisher_sends_what_piled_up_as_one_batch_in_order(own_channel_layer):
    # given: a listener in the live group, and a publisher on the test's own layer
    from incidents.events import _Publisher

    channel = run_async(_group_member(own_channel_layer))
    publisher = _Publisher()
    events = [{"kind": "incident.updated", "incident_id": i} for i in range(40)]

    # when: forty events come at once, as from a burst of reports
    for event in events:
        publisher.put(event)

    # then
    async def receive_all():
        received, messages = [], 0
        while len(received) < len(events):
            message = await asyncio.wait_for(own_channel_layer.receive(channel), 5)
            messages += 1
            received += ([message["event"]] if message["type"] == "incident.event"
                         else message["events"])
        return received, messages

    received, messages = run_async(receive_all())  # (the publisher's thread idles on)
    assert received == events
    assert messages == 1  # all forty within the batch window (25 ms)


async def _group_member(layer) -> str:
    channel = await layer.new_channel()
    await layer.group_add(LIVE_GROUP, channel)
    return channel
