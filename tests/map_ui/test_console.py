"""The dispatcher console in a real Chromium against a real ASGI server (HTTP + websockets):
live markers without reload, verify and plan from the console, crews moving live, a lost
socket that reconnects and catches up, right-to-left layouts, and citizen text kept as text.

Each test loads the demo city, its users and crews (fixtures.city) and a small street grid
(gis.roads.roads_import of a tiny .osm) so that routes follow roads. Writes go through the
HTTP API, as a phone or another console would make them: the server then publishes the live
events (a write in the test process would publish from a thread that Playwright's event loop
owns)."""

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from crews.models import RoutePlan, RouteStop
from fixtures.city import demo_city_load, demo_crews_load, demo_users_load
from fixtures.generator import reports_generate
from gis.roads import roads_import
from incidents.models import Incident, Report, Status
from tests.map_ui.conftest import login, pages_close_and_wait_quiet, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DISPATCHER = ("dispatcher", "rasad-dispatcher")
CREW = ("crew", "rasad-crew")
# The demo city is central Helsinki, about 24.934..24.954 E and 60.163..60.180 N.
GRID_LON = [24.930 + 0.004 * i for i in range(7)]
GRID_LAT = [60.160 + 0.003 * j for j in range(8)]
READY = "document.body.dataset.mapReady === 'true' && document.body.dataset.live === 'live'"


def street_grid_write(path: Path) -> Path:
    """A grid of residential streets over the demo city, as OSM XML."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="tests">']
    node = {}
    for i, lon in enumerate(GRID_LON):
        for j, lat in enumerate(GRID_LAT):
            node[i, j] = 1 + i * len(GRID_LAT) + j
            lines.append(f'  <node id="{node[i, j]}" version="1" lat="{lat:.6f}" lon="{lon:.6f}"/>')
    streets = [[node[i, j] for j in range(len(GRID_LAT))] for i in range(len(GRID_LON))]
    streets += [[node[i, j] for i in range(len(GRID_LON))] for j in range(len(GRID_LAT))]
    for way, refs in enumerate(streets, start=1):
        lines.append(f'  <way id="{way}" version="1">')
        lines += [f'    <nd ref="{ref}"/>' for ref in refs]
        lines.append('    <tag k="highway" v="residential"/>')
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _server_quiet(desk):
    """Close the pages and let the server finish what they asked for before the test
    database is flushed: a TRUNCATE racing a request's transaction can deadlock."""
    yield
    pages_close_and_wait_quiet(desk)


@pytest.fixture
def demo(tmp_path):
    area = demo_city_load()
    demo_users_load()
    crews = {c.code: c for c in demo_crews_load()}
    roads_import(path=street_grid_write(tmp_path / "grid.osm"))
    return {"area": area, "crews": crews}


def console_open(context, base: str, language: str | None = None):
    """Signed in as the demo dispatcher, on /console/ with the map drawn and the socket live.
    Basemap tiles are refused (no internet in tests): the page draws our own streets."""
    context.route("https://*.openstreetmap.org/**", lambda route: route.abort())
    page = context.new_page()
    if language:
        context.add_cookies([{"name": "django_language", "value": language, "url": base}])
    login(page, base, *DISPATCHER)
    if not page.url.endswith("/console/"):
        page.goto(f"{base}/console/")
    page.wait_for_function(READY, timeout=15000)
    page.evaluate("window.__notReloaded = true")
    return page


def post_report(base: str, **body) -> int:
    """File a report as a citizen would; the id of its incident."""
    response = httpx.post(f"{base}/api/v1/reports/", json={"channel": "web", "language": "en",
                                                          **body}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["properties"]["incident"]


def token(base: str, username: str, password: str) -> dict:
    response = httpx.post(f"{base}/api/v1/auth/token/",
                          data={"username": username, "password": password}, timeout=10)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Token {response.json()['token']}"}


def verify(base: str, incident_id: int) -> None:
    response = httpx.post(f"{base}/api/v1/incidents/{incident_id}/transition/",
                          json={"to": "verified"}, headers=token(base, *DISPATCHER), timeout=10)
    assert response.status_code == 200, response.text


def list_item(page, incident_id: int):
    return page.locator(f'#incident-list li[data-id="{incident_id}"]')


# --- live incidents, verify, plan -----------------------------------------------------------

def test_report_appears_live_then_is_verified_and_planned_from_the_console(
        asgi_server, desk, demo):
    # given: a city with some history, and the console open
    reports_generate(area=demo["area"], count=60, seed=7, days=5)
    page = console_open(desk, asgi_server)
    screenshot(page, "console-start")
    view = page.evaluate("[RasadConsole.map.getCenter(), RasadConsole.map.getZoom()]")
    page.evaluate("void RasadConsole.map.setZoom(14, {animate: false})")
    page.wait_for_function("RasadConsole.state.data.zoom === 14")
    assert page.evaluate("RasadConsole.state.data.mode") == "clusters"
    screenshot(page, "console-clusters")
    page.locator("#heat-toggle").click()
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
    screenshot(page, "console-heatmap")
    page.locator("#heat-toggle").click()
    page.evaluate(f"void RasadConsole.map.setView({view[0]}, {view[1]}, {{animate: false}})")
    page.wait_for_function(f"RasadConsole.state.data.zoom === {view[1]}")

    # when: a citizen files a report through the API
    sent = time.monotonic()
    incident_id = post_report(asgi_server, category="garbage", lon=24.9405, lat=60.1690,
                              description="Bins overflowing behind the market")
    item = list_item(page, incident_id)
    item.wait_for(timeout=2000)
    arrived = time.monotonic() - sent

    # then: it is listed and drawn without a reload
    assert Incident.objects.get(pk=incident_id).report_count == 1  # a new incident
    assert arrived < 2.0
    assert page.evaluate("window.__notReloaded") is True
    assert page.evaluate(f"Boolean(RasadConsole.metrics.drawn[{incident_id}])") is True
    screenshot(page, "console-live-report")

    # when: the dispatcher opens and verifies it
    item.locator("button.inc-open").click()
    page.locator('[data-transition="verified"]').click()
    page.locator("#pane-detail .badge.status-verified").first.wait_for()

    # then
    assert Incident.objects.get(pk=incident_id).status == Status.VERIFIED

    # when: they select it and the cleaning crew, and plan
    page.locator("#detail-select").check()
    page.locator("#tab-crews").click()
    clean = demo["crews"]["clean-1"]
    page.locator(f'#con-crews input.crew-sel[data-id="{clean.pk}"]').check()
    plan_button = page.locator("#plan-button")
    assert plan_button.inner_text() == "Plan 1 incident on 1 crew"
    plan_button.click()
    page.locator(f'.plan-card .stop-open[data-open="{incident_id}"]').wait_for(timeout=15000)

    # then: the route is drawn along the streets with a numbered stop, the incident assigned
    plan = RoutePlan.objects.get(crew=clean, state=RoutePlan.State.PUBLISHED)
    assert [s.incident_id for s in plan.stops.all()] == [incident_id]
    assert Incident.objects.get(pk=incident_id).status == Status.ASSIGNED
    assert page.locator(".leaflet-marker-pane .stop-icon").filter(has_text="1").count() == 1
    drawn = page.evaluate("RasadConsole.state.plans.map(p => [p.crew, p.geometry.coordinates.length])")
    assert drawn == [["clean-1", len(plan.geometry.coords)]]
    assert len(plan.geometry.coords) > 3  # along the street grid, not a straight line
    page.wait_for_function(
        f"RasadConsole.state.markers.get({incident_id})?.feature.properties.status === 'assigned'"
        f" || document.querySelector('#incident-list li[data-id=\"{incident_id}\"] .status-assigned')")
    screenshot(page, "console-planned")



def test_crew_position_moves_the_crew_marker_live(asgi_server, desk, demo):
    # given: the console is open; road-1 (the demo crew user's crew) is at its depot
    page = console_open(desk, asgi_server)
    road = demo["crews"]["road-1"]
    start = page.evaluate(f"RasadConsole.state.crews.get({road.pk}).marker.getLatLng()")
    assert (start["lng"], start["lat"]) == (pytest.approx(road.depot.x), pytest.approx(road.depot.y))

    # when: the crew's phone sends a GPS ping
    sent = time.monotonic()
    response = httpx.post(f"{asgi_server}/api/v1/crew/positions/", headers=token(asgi_server, *CREW),
                          json={"positions": [{"lon": 24.9480, "lat": 60.1745,
                                               "recorded_at": datetime.now(UTC).isoformat()}]},
                          timeout=10)
    assert response.status_code == 200, response.text
    page.wait_for_function(f"RasadConsole.metrics.crewMoves[{road.pk}]", timeout=2000)
    moved = time.monotonic() - sent

    # then: the marker moved without a reload, and its trail grew
    assert moved < 2.0
    now_at = page.evaluate(f"RasadConsole.state.crews.get({road.pk}).marker.getLatLng()")
    assert (now_at["lng"], now_at["lat"]) == (pytest.approx(24.9480), pytest.approx(60.1745))
    assert page.evaluate(f"RasadConsole.state.crews.get({road.pk}).trail.getLatLngs().length") >= 1
    assert page.evaluate("window.__notReloaded") is True
    page.locator("#tab-crews").click()
    assert "seen" in page.locator(f'#con-crews li[data-id="{road.pk}"] .crew-seen').inner_text()
    screenshot(page, "console-crew-moved")


def test_lost_socket_reconnects_and_catches_up(asgi_server, desk, demo):
    # given: the console is open and live
    page = console_open(desk, asgi_server)

    # when: the network goes, and the socket with it; a report comes in meanwhile
    desk.set_offline(True)
    page.evaluate("RasadConsole.live.drop()")
    page.wait_for_function("['reconnecting', 'offline'].includes(document.body.dataset.live)")
    screenshot(page, "console-reconnecting")
    incident_id = post_report(asgi_server, category="garbage", lon=24.9440, lat=60.1700,
                              description="Dumped sofa")
    time.sleep(1.5)  # the event is published now, to nobody
    assert page.evaluate("document.body.dataset.live") in ("reconnecting", "offline")
    desk.set_offline(False)

    # then: it reconnects (with backoff) and shows what it missed, without a reload
    page.wait_for_function("document.body.dataset.live === 'live'", timeout=20000)
    list_item(page, incident_id).wait_for(timeout=5000)
    # found by the catch-up (`since=`), not pushed: its event went out while nobody listened
    caught = page.evaluate("RasadConsole.metrics.catchUps.flatMap(c => c.changed)")
    assert incident_id in caught
    assert page.evaluate("RasadConsole.metrics.reconnects") == 1
    assert page.evaluate("window.__notReloaded") is True
    screenshot(page, "console-reconnected")


@pytest.mark.parametrize("language", ["ar", "fa"])
def test_console_is_right_to_left_in_arabic_and_persian(asgi_server, desk, demo, language):
    # given
    reports_generate(area=demo["area"], count=40, seed=3, days=3)

    # when
    page = console_open(desk, asgi_server, language=language)

    # then: the page is rtl, the panel on the reading side (right) and the controls too
    assert (page.get_attribute("html", "dir"), page.get_attribute("html", "lang")) == (
        "rtl", language)
    panel = page.locator("#console-panel").bounding_box()
    area = page.locator(".console-map").bounding_box()
    zoom = page.locator(".leaflet-control-zoom").bounding_box()
    assert panel["x"] > area["x"]
    assert zoom["x"] > area["x"] + area["width"] / 2
    assert page.evaluate("document.body.dataset.live") == "live"
    screenshot(page, f"console-{language}")


def test_citizen_text_is_shown_as_text(asgi_server, desk, demo):
    # given: a report whose description is HTML
    evil = "<img src=x onerror=alert(1)>"
    incident_id = post_report(asgi_server, category="street-light", lon=24.9420, lat=60.1710,
                              description=evil, address="<b>Bulevardi</b> 5")
    dialogs = []
    desk.on("page", lambda p: p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss())))

    # when: the console lists it, its popup and detail show it
    page = console_open(desk, asgi_server)
    item = list_item(page, incident_id)
    item.wait_for()
    item.locator("button.inc-open").click()
    page.locator("#pane-detail .citizen-text").first.wait_for()
    page.wait_for_timeout(300)

    # then: the markup is text, nothing ran
    assert item.locator(".summary").inner_text() == evil
    assert item.locator(".address").inner_text() == "<b>Bulevardi</b> 5"
    assert page.locator("#pane-detail .citizen-text").first.inner_text() == evil
    assert page.locator(".inc-popup .summary").inner_text() == evil
    assert page.locator("img[src=x]").count() == 0
    assert dialogs == []
    screenshot(page, "console-escaped-text")


def test_reject_needs_a_reason_and_merge_and_split_from_the_console(asgi_server, desk, demo):
    # given: three garbage incidents 100 m apart
    a = post_report(asgi_server, category="garbage", lon=24.9400, lat=60.1680, description="A")
    b = post_report(asgi_server, category="garbage", lon=24.9418, lat=60.1680, description="B")
    c = post_report(asgi_server, category="garbage", lon=24.9436, lat=60.1680, description="C")
    page = console_open(desk, asgi_server)

    # when: the dispatcher rejects A without a reason
    list_item(page, a).locator("button.inc-open").click()
    page.locator('[data-transition="rejected"]').click()

    # then: refused in the page, nothing changed
    page.locator("#console-toast.bad").wait_for()
    assert Incident.objects.get(pk=a).status == Status.NEW

    # when: with a reason
    page.fill("#transition-note", "Private courtyard, not city land")
    page.locator('[data-transition="rejected"]').click()
    page.locator("#pane-detail .badge.status-rejected").first.wait_for()

    # then
    assert Incident.objects.get(pk=a).status == Status.REJECTED

    # when: B is merged into C, picked from the nearby incidents
    page.locator("#detail-back").click()
    list_item(page, b).locator("button.inc-open").click()
    page.locator(f'#merge-target option[value="{c}"]').wait_for(state="attached")
    page.select_option("#merge-target", str(c))
    page.locator("#merge-button").click()
    page.locator("#pane-detail h2.detail-title").filter(has_text=f"#{c}").wait_for()

    # then: C holds both reports, B is merged
    assert Incident.objects.get(pk=b).status == Status.MERGED
    assert Report.objects.filter(incident_id=c).count() == 2

    # when: B's report is split off C again
    moved = Report.objects.get(incident_id=c, description="B")
    page.locator(f'input.split-sel[value="{moved.pk}"]').check()
    page.locator("#split-button").click()
    page.locator("#console-toast").filter(has_text="Split off into").wait_for()

    # then
    moved.refresh_from_db()
    assert moved.incident_id not in (b, c)
    assert Report.objects.filter(incident_id=c).count() == 1
    screenshot(page, "console-merge-split")


def test_routes_tab_reorders_locks_and_removes_stops(asgi_server, desk, demo):
    # given: two verified garbage incidents planned on the cleaning crew
    first = post_report(asgi_server, category="garbage", lon=24.9400, lat=60.1700)
    second = post_report(asgi_server, category="garbage", lon=24.9480, lat=60.1760)
    verify(asgi_server, first)
    verify(asgi_server, second)
    clean = demo["crews"]["clean-1"]
    page = console_open(desk, asgi_server)
    for incident_id in (first, second):
        list_item(page, incident_id).locator("input.sel").check()
    page.locator("#tab-crews").click()
    page.locator(f'#con-crews input.crew-sel[data-id="{clean.pk}"]').check()
    page.locator("#plan-button").click()
    page.locator(".plan-card .stops li").nth(1).wait_for(timeout=15000)
    plan = RoutePlan.objects.get(crew=clean, state=RoutePlan.State.PUBLISHED)
    order = [s.incident_id for s in plan.stops.order_by("sequence")]
    assert sorted(order) == sorted([first, second])

    # when: the first stop moves down
    page.locator('.plan-card .stops li').first.locator('[data-move="1"]').click()
    page.wait_for_function(f"RasadConsole.state.plans[0].version === {plan.version + 1}")

    # then: a new version in the new order, the moved stops locked
    new = RoutePlan.objects.get(crew=clean, state=RoutePlan.State.PUBLISHED)
    assert [s.incident_id for s in new.stops.order_by("sequence")] == order[::-1]
    assert page.locator(".leaflet-marker-pane .stop-icon").count() == 2

    # when: the first stop is unlocked, then the second removed
    page.locator(".plan-card .stops li").first.locator("[data-lock]").click()
    page.wait_for_function("RasadConsole.state.plans[0].stops[0].locked === false")
    page.locator(".plan-card .stops li").nth(1).locator("[data-remove]").click()
    page.wait_for_function("RasadConsole.state.plans[0].stops.length === 1")

    # then
    stops = {s.incident_id: s for s in new.stops.all()}
    assert stops[order[1]].locked is False
    assert stops[order[0]].state == RouteStop.State.REMOVED
    assert Incident.objects.get(pk=order[0]).status == Status.VERIFIED
    screenshot(page, "console-routes")


def test_intake_agent_sees_the_map_without_dispatch_buttons(asgi_server, desk, demo):
    # given
    incident_id = post_report(asgi_server, category="garbage", lon=24.9400, lat=60.1700)
    desk.route("https://*.openstreetmap.org/**", lambda route: route.abort())
    page = desk.new_page()

    # when
    login(page, asgi_server, "agent", "rasad-agent")
    page.goto(f"{asgi_server}/console/")
    page.wait_for_function(READY)
    list_item(page, incident_id).locator("button.inc-open").click()
    page.locator("#pane-detail h2.detail-title").wait_for()

    # then
    assert page.locator("#plan-button").count() == 0
    assert page.locator("[data-transition]").count() == 0
    assert page.locator("#note-button").count() == 1
