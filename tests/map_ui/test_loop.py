"""The whole loop in real Chromium, against the real ASGI server: a citizen reports a pothole
with a photo from a phone; the dispatcher console, already open, shows it live; the
dispatcher verifies it and plans road-1's route; the crew works the stop on a phone (two
steps while offline, replayed when back in signal, then fixed with an after photo); the
citizen's tracking page shows it resolved. The database is checked after every step."""

import re
import time

import pytest
from playwright.sync_api import expect

from crews.models import CrewAction, RoutePlan, RouteStop
from fixtures.city import demo_city_load, demo_crews_load, demo_users_load
from gis.roads import roads_import
from incidents.models import Incident, IncidentUpdate, Photo, Report, Status
from tests.conftest import jpeg_bytes
from tests.map_ui.conftest import PHONE, login, pages_close_and_wait_quiet, screenshot
from tests.map_ui.test_console import console_open, list_item, street_grid_write

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Where the citizen's phone says it is (the `phone` fixture): Kamppi, inside the demo city.
PHONE_AT = (24.9384, 60.1699)
CODE = re.compile(r"^[2-9A-Z]{4}-[2-9A-Z]{4}$")
NOT_LOCAL = re.compile(r"^https?://(?!127\.0\.0\.1)")


@pytest.fixture
def demo(tmp_path):
    """The demo city, its users and crews, and a small street grid for the route."""
    demo_city_load()
    demo_users_load()
    crews = {c.code: c for c in demo_crews_load()}
    roads_import(path=street_grid_write(tmp_path / "grid.osm"))
    return crews


@pytest.fixture
def citizen(phone):
    """The citizen's phone. No internet in tests: basemap tiles fail at once."""
    phone.route(NOT_LOCAL, lambda route: route.abort())
    return phone


@pytest.fixture
def crew_phone(browser):
    """A second phone, the crew's, with its own cookies and storage."""
    context = browser.new_context(**PHONE, locale="en-GB",
                                  geolocation={"latitude": 60.1690, "longitude": 24.9400},
                                  permissions=["geolocation"])
    context.route(NOT_LOCAL, lambda route: route.abort())
    yield context
    context.close()


@pytest.fixture(autouse=True)
def _server_quiet(desk, citizen, crew_phone):
    """Close the pages and let the server finish what they asked for before the test
    database is flushed: a TRUNCATE racing a request's transaction can deadlock."""
    yield
    pages_close_and_wait_quiet(desk, citizen, crew_phone)


@pytest.fixture
def photos(tmp_path):
    before, after = tmp_path / "pothole.jpg", tmp_path / "after.jpg"
    before.write_bytes(jpeg_bytes(size=(640, 480)))
    after.write_bytes(jpeg_bytes(size=(640, 480), color=(60, 60, 60)))
    return before, after


def wait_for(page, condition, timeout_s: float = 10.0) -> None:
    """Poll the database; waiting through the page lets Playwright run route handlers."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        page.wait_for_timeout(100)


def statuses(incident_id: int) -> tuple[str, list[str]]:
    """The incident's status and its reports' (which mirror it)."""
    return (Incident.objects.get(pk=incident_id).status,
            list(Report.objects.filter(incident_id=incident_id).values_list("status", flat=True)))


def test_report_to_resolved_across_citizen_console_and_crew(
        asgi_server, desk, citizen, crew_phone, demo, photos):
    photo, after_photo = photos
    road_1 = demo["road-1"]

    # The dispatcher's console is open before anything is reported.
    console = console_open(desk, asgi_server)
    assert console.locator("#incident-list li[data-id]").count() == 0

    # (1) The citizen reports a pothole with a photo and gets a tracking code.
    report_page = citizen.new_page()
    report_page.goto(f"{asgi_server}/")
    expect(report_page.locator(".category")).to_have_count(12)
    report_page.click(".category[data-code=pothole]")
    report_page.check("input[name=q-size][value=medium]")
    report_page.set_input_files("#photos", str(photo))
    expect(report_page.locator(".photo-thumb")).to_have_count(1)
    report_page.click("#locate")
    expect(report_page.locator("#location-status")).to_have_class(re.compile(r"\bok\b"))
    report_page.fill("#description", "Deep hole in the cycle lane")
    report_page.click("#send")
    code_text = report_page.locator("#done-code")
    expect(code_text).to_have_text(CODE)
    screenshot(report_page, "loop-1-citizen")
    code = code_text.inner_text()
    report = Report.objects.get(tracking_code=code)
    incident_id = report.incident_id
    assert report.category.code == "pothole"
    assert (round(report.location.x, 4), round(report.location.y, 4)) == PHONE_AT
    assert [(p.kind, p.state) for p in report.photos.all()] == [("report", "ready")]
    assert statuses(incident_id) == (Status.NEW, [Status.NEW])

    # (2) The console shows the new incident without a reload.
    item = list_item(console, incident_id)
    expect(item).to_be_visible(timeout=5000)
    assert console.evaluate("window.__notReloaded") is True
    console.wait_for_function(f"Boolean(RasadConsole.metrics.drawn[{incident_id}])")
    # The row is shown from the event at once; the debounced refresh then brings the counts.
    expect(console.locator("#tab-incidents-count")).to_have_text("1")
    expect(console.locator("#view-count")).to_have_text("1 incident in view")
    screenshot(console, "loop-2-console-live")

    # (3) The dispatcher verifies it and plans road-1's route from the console.
    item.locator("button.inc-open").click()
    console.locator('[data-transition="verified"]').click()
    expect(console.locator("#pane-detail .badge.status-verified").first).to_be_visible()
    assert statuses(incident_id) == (Status.VERIFIED, [Status.VERIFIED])
    console.locator("#detail-select").check()
    console.locator("#tab-crews").click()
    console.locator(f'#con-crews input.crew-sel[data-id="{road_1.pk}"]').check()
    expect(console.locator("#plan-button")).to_have_text("Plan 1 incident on 1 crew")
    console.locator("#plan-button").click()
    expect(console.locator(f'.plan-card .stop-open[data-open="{incident_id}"]')).to_be_visible(
        timeout=15000)
    screenshot(console, "loop-3-console-planned")
    plan = RoutePlan.objects.get(crew=road_1, state=RoutePlan.State.PUBLISHED)
    assert [s.incident_id for s in plan.stops.all()] == [incident_id]
    assert statuses(incident_id) == (Status.ASSIGNED, [Status.ASSIGNED])

    # (4) The crew sees the stop on their phone.
    crew = crew_phone.new_page()
    login(crew, asgi_server, "crew", "rasad-crew")
    expect(crew).to_have_url(f"{asgi_server}/crew/")
    card = crew.locator(f"#stop-{incident_id}")
    expect(crew.locator("#crew-stops > li")).to_have_count(1)
    expect(card).to_have_class(re.compile(r"\bis-next\b"))
    expect(card).to_have_attribute("data-status", "assigned")
    expect(crew.locator("#crew-name")).to_have_text("Road crew 1")
    screenshot(crew, "loop-4a-crew-stop")

    # Out of signal: en route and on site wait on the phone; the server hears nothing.
    updates_before = IncidentUpdate.objects.filter(incident_id=incident_id).count()
    crew_phone.set_offline(True)
    expect(crew.locator("#crew-offline")).to_be_visible()
    card.locator("[data-act=en_route]").click()
    expect(card).to_have_attribute("data-status", "en_route")
    card.locator("[data-act=on_site]").click()
    expect(card).to_have_attribute("data-status", "on_site")
    expect(crew.locator("#crew-waiting")).to_contain_text("2 actions waiting")
    expect(card.locator(".crew-queued")).to_have_attribute("data-queued", "2")
    screenshot(crew, "loop-4b-crew-offline-queued")
    assert statuses(incident_id) == (Status.ASSIGNED, [Status.ASSIGNED])
    assert IncidentUpdate.objects.filter(incident_id=incident_id).count() == updates_before
    assert CrewAction.objects.count() == 0

    # Back in signal: the queue replays, in order, once.
    crew_phone.set_offline(False)
    wait_for(crew, lambda: statuses(incident_id) == (Status.ON_SITE, [Status.ON_SITE]))
    expect(crew.locator("#crew-waiting")).to_be_hidden()
    expect(crew.locator("#crew-offline")).to_be_hidden()
    expect(card).to_have_attribute("data-status", "on_site")
    screenshot(crew, "loop-4c-crew-replayed")
    assert list(CrewAction.objects.order_by("pk").values_list("action", "response_status")) == [
        ("en_route", 200), ("on_site", 200)]

    # Fixed: a pothole needs a photo of the finished work.
    card.locator("[data-act=resolved]").click()
    expect(crew.locator("#crew-sheet")).to_be_visible()
    expect(crew.locator("#crew-sheet-send")).to_be_disabled()
    crew.locator("#crew-sheet input.crew-file[data-kind=after]").set_input_files(str(after_photo))
    expect(crew.locator("#crew-sheet .crew-thumb")).to_have_count(1)
    crew.fill("#crew-sheet-note", "Patched with cold asphalt")
    expect(crew.locator("#crew-sheet-send")).to_be_enabled()
    crew.click("#crew-sheet-send")
    wait_for(crew, lambda: statuses(incident_id) == (Status.RESOLVED, [Status.RESOLVED]))
    expect(card).to_have_attribute("data-status", "resolved")
    expect(crew.locator("#crew-waiting")).to_be_hidden()
    screenshot(crew, "loop-4d-crew-resolved")
    recorded = list(IncidentUpdate.objects.filter(incident_id=incident_id).exclude(to_status="")
                    .order_by("pk").values_list("to_status", flat=True))
    assert recorded == ["new", "verified", "assigned", "en_route", "on_site", "resolved"]
    resolved = IncidentUpdate.objects.get(incident_id=incident_id, to_status="resolved")
    assert resolved.note == "Patched with cold asphalt"
    assert list(Photo.objects.filter(update__incident_id=incident_id)
                .values_list("kind", flat=True)) == ["after"]
    assert RouteStop.objects.get(incident_id=incident_id, plan__state="published").state == "done"

    # (5) The citizen's tracking page shows it resolved.
    track = citizen.new_page()
    track.goto(f"{asgi_server}/track/{code}/")
    expect(track.locator("#status")).to_have_text("resolved")
    expect(track.locator("#status")).to_have_attribute("data-status", "resolved")
    expect(track.locator("#category")).to_have_text("Pothole")
    expect(track.locator("#timeline li").last).to_have_attribute("data-status", "resolved")
    # The pin has settled in the middle of the map (Leaflet's zoom animation is over).
    track.wait_for_function("""() => {
        const box = document.querySelector('.track-map .folium-map')?.getBoundingClientRect();
        const pin = document.querySelector('.track-map .track-pin')?.getBoundingClientRect();
        if (!box || !pin) return false;
        const tip = [pin.left + pin.width / 2, pin.top + 38];
        return Math.abs(tip[0] - (box.left + box.width / 2)) < 2
            && Math.abs(tip[1] - (box.top + box.height / 2)) < 2; }""")
    screenshot(track, "loop-5-track-resolved")
    assert statuses(incident_id) == (Status.RESOLVED, [Status.RESOLVED])
