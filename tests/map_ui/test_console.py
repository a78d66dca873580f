"""The dispatcher console in a real Chromium against a real ASGI server (HTTP + websockets):
live markers without reload, verify and plan from the console, crews moving live, a lost
socket that reconnects and catches up, right-to-left layouts, and citizen text kept as text.

Each test loads the demo city, its users and crews (fixtures.city) and a small street grid
(gis.roads.roads_import of a tiny .osm) so that routes follow roads."""

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from crews.models import Crew, RoutePlan
from fixtures.city import demo_city_load, demo_crews_load, demo_users_load
from gis.roads import roads_import
from incidents.models import Incident, Status
from incidents.services import ReportInput, incident_transition, report_submit
from tests.map_ui.conftest import login, screenshot

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
    way = 0
    streets = [[node[i, j] for j in range(len(GRID_LAT))] for i in range(len(GRID_LON))]
    streets += [[node[i, j] for i in range(len(GRID_LON))] for j in range(len(GRID_LAT))]
    for refs in streets:
        way += 1
        lines.append(f'  <way id="{way}" version="1">')
        lines += [f'    <nd ref="{ref}"/>' for ref in refs]
        lines.append('    <tag k="highway" v="residential"/>')
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def demo(tmp_path):
    area = demo_city_load()
    demo_users_load()
    crews = {c.code: c for c in demo_crews_load()}
    roads_import(path=street_grid_write(tmp_path / "grid.osm"))
    return {"area": area, "crews": crews}


def report(category: str, lon: float, lat: float, description: str = "", **fields) -> Incident:
    result = report_submit(data=ReportInput(category_code=category, lon=lon, lat=lat,
                                            description=description, **fields))
    return Incident.objects.get(pk=result.report.incident_id)


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


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def post_report(base: str, **body) -> dict:
    response = httpx.post(f"{base}/api/v1/reports/", json={"channel": "web", "language": "en",
                                                          **body}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


# --- live incidents, verify, plan -----------------------------------------------------------

def test_report_appears_live_then_is_verified_and_planned_from_the_console(
        asgi_server, desk, demo):
    # given: the console is open
    page = console_open(desk, asgi_server)
    screenshot(page, "console-start")

    # when: a citizen files a report through the API
    sent = time.monotonic()
    body = post_report(asgi_server, category="garbage", lon=24.9405, lat=60.1690,
                       description="Bins overflowing behind the market")
    incident_id = body["properties"]["incident"]
    item = page.locator(f'#incident-list li[data-id="{incident_id}"]')
    item.wait_for(timeout=2000)
    arrived = time.monotonic() - sent

    # then: it is listed and drawn without a reload
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
    assert plan_button.inner_text() == "Plan 1 incidents on 1 crews"
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


def test_lost_socket_reconnects_and_catches_up(asgi_server, desk, demo):
    # given: the console is open and live
    page = console_open(desk, asgi_server)

    # when: the network goes and the socket with it; a report comes in meanwhile
    desk.set_offline(True)
    page.evaluate("RasadConsole.live.drop()")
    page.wait_for_function("['reconnecting', 'offline'].includes(document.body.dataset.live)")
    time.sleep(2.5)
    state_while_down = page.evaluate("document.body.dataset.live")
    incident = report("garbage", 24.9440, 60.1700, "Dumped sofa")
    time.sleep(1.0)
    desk.set_offline(False)

    # then
    page.wait_for_function("document.body.dataset.live === 'live'", timeout=20000)
    page.locator(f'#incident-list li[data-id="{incident.pk}"]').wait_for(timeout=5000)
    print(state_while_down, page.evaluate("JSON.stringify([RasadConsole.metrics.catchUps, RasadConsole.metrics.arrivals, RasadConsole.metrics.reconnects])"))
