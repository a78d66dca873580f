"""The crew phone view in a real browser: today's stops, status buttons with photos, the
offline outbox replayed exactly once, conflicts shown, GPS pings, RTL, access."""

import re
import time

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from crews.models import CrewAction, CrewPosition, RouteStop
from crews.services.dispatch import dispatch_plan
from fixtures.city import demo_city_load, demo_crews_load, demo_users_load
from incidents.models import Incident, IncidentUpdate, Photo, Status
from incidents.services import ReportInput, incident_note_add, incident_transition, report_submit
from tests.conftest import jpeg_bytes
from tests.map_ui.conftest import PHONE, login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Two potholes in central Helsinki, far enough apart to be two incidents.
POTHOLES = [(24.9415, 60.1695), (24.9480, 60.1650)]
# Where the phone's GPS says it is (the `phone` fixture).
PHONE_AT = (24.9384, 60.1699)


@pytest.fixture
def route():
    """The demo city, crews and users; two verified potholes planned on road-1's route (the
    demo user `crew` works on road-1). Returns the incidents in stop order."""
    demo_city_load()
    demo_users_load()
    road_1 = next(c for c in demo_crews_load() if c.code == "road-1")
    dispatcher = get_user_model().objects.get(username="dispatcher")
    ids = []
    for lon, lat in POTHOLES:
        report = report_submit(data=ReportInput(
            category_code="pothole", lon=lon, lat=lat, description="Deep pothole",
            attributes={"size": "medium"})).report
        incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
        ids.append(report.incident_id)
    result = dispatch_plan(crew_ids=[road_1.pk], incident_ids=ids, by=dispatcher, budget_s=0.5)
    stops = RouteStop.objects.filter(plan=result.plans[0]).order_by("sequence")
    return [Incident.objects.get(pk=s.incident_id) for s in stops]


@pytest.fixture
def dispatcher():
    return get_user_model().objects.get(username="dispatcher")


@pytest.fixture
def local_only(phone):
    """No internet in tests: basemap tiles fail at once (the page falls back to its roads)."""
    phone.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda r: r.abort())
    return phone


@pytest.fixture
def phone_without_sw(browser):
    """A phone whose only copy of the route is the page's own (IndexedDB): no service worker
    answering for the server."""
    context = browser.new_context(**PHONE, locale="en-GB", service_workers="block")
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda r: r.abort())
    yield context
    context.close()


def crew_page(context, base: str):
    page = context.new_page()
    login(page, base, "crew", "rasad-crew")
    expect(page).to_have_url(f"{base}/crew/")
    expect(page.locator("#crew-stops > li").first).to_be_visible()
    return page


def wait_for(page, condition, timeout_s: float = 10.0) -> None:
    """Poll the database; waiting through the page lets Playwright run route handlers."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        page.wait_for_timeout(100)


def status_of(incident: Incident) -> str:
    return Incident.objects.get(pk=incident.pk).status


def statuses_recorded(incident: Incident) -> list[str]:
    return list(IncidentUpdate.objects.filter(incident=incident).exclude(to_status="")
                .order_by("pk").values_list("to_status", flat=True))


def test_crew_sees_todays_stops_in_order_on_a_list_and_a_map(asgi_server, local_only, route):
    first, second = route

    page = crew_page(local_only, asgi_server)

    cards = page.locator("#crew-stops > li")
    expect(cards).to_have_count(2)
    assert cards.evaluate_all("els => els.map(e => Number(e.dataset.incident))") == [
        first.pk, second.pk]
    expect(cards.nth(0)).to_have_class(re.compile(r"\bis-next\b"))
    expect(cards.nth(0).locator(".crew-next")).to_have_text("Next stop")
    expect(cards.nth(1)).not_to_have_class(re.compile(r"\bis-next\b"))
    screenshot(page, "crew-today")
    lon, lat = first.location.x, first.location.y
    expect(cards.nth(0).locator("a.crew-navigate")).to_have_attribute(
        "href", f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}")
    cards.nth(1).locator(".crew-stop-head").click()
    lon, lat = second.location.x, second.location.y
    expect(cards.nth(1).locator("a.crew-navigate")).to_have_attribute(
        "href", f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}")
    expect(page.locator(".crew-pin")).to_have_count(2)
    expect(page.locator(".crew-pin.is-next")).to_have_text("1")
    route_lines = page.evaluate("""() => { let n = 0;
        RasadCrew.map.eachLayer(l => {
          if (l instanceof L.Polyline && !(l instanceof L.Polygon)) n += 1; });
        return n; }""")
    assert route_lines == 1
    expect(page.locator("#crew-name")).to_have_text("Road crew 1")
    expect(cards.nth(0).locator(".crew-eta")).to_have_text(re.compile(r"^\d{2}:\d{2}$"))


def test_crew_works_the_first_stop_to_fixed_with_an_after_photo(asgi_server, local_only, route,
                                                                 tmp_path):
    first, second = route
    photo = tmp_path / "after.jpg"
    photo.write_bytes(jpeg_bytes(size=(640, 480)))
    page = crew_page(local_only, asgi_server)
    card = page.locator(f"#stop-{first.pk}")

    card.locator("[data-act=en_route]").click()
    expect(card).to_have_attribute("data-status", "en_route")
    wait_for(page, lambda: status_of(first) == Status.EN_ROUTE)
    card.locator("[data-act=on_site]").click()
    expect(card).to_have_attribute("data-status", "on_site")
    wait_for(page, lambda: status_of(first) == Status.ON_SITE)
    card.locator("[data-act=resolved]").click()
    sheet = page.locator("#crew-sheet")
    expect(sheet).to_be_visible()
    # Potholes need a photo of the finished work: the page will not send without one.
    expect(page.locator("#crew-sheet-send")).to_be_disabled()
    expect(page.locator("#crew-sheet-error")).to_contain_text("photo of the finished work")
    screenshot(page, "crew-fixed-needs-photo")
    sheet.locator("input.crew-file[data-kind=after]").set_input_files(str(photo))
    expect(sheet.locator(".crew-thumb")).to_have_count(1)
    expect(page.locator("#crew-sheet-send")).to_be_enabled()
    page.fill("#crew-sheet-note", "Patched with cold asphalt")
    screenshot(page, "crew-fixed-with-photo")
    page.click("#crew-sheet-send")

    wait_for(page, lambda: status_of(first) == Status.RESOLVED)
    expect(card).to_have_attribute("data-status", "resolved")
    expect(page.locator("#crew-waiting")).to_be_hidden()
    assert statuses_recorded(first)[-3:] == ["en_route", "on_site", "resolved"]
    resolved = IncidentUpdate.objects.get(incident=first, to_status="resolved")
    assert resolved.note == "Patched with cold asphalt"
    assert list(Photo.objects.filter(update__incident=first).values_list("kind", "update")) == [
        ("after", resolved.pk)]
    assert RouteStop.objects.get(incident=first, plan__state="published").state == "done"
    # The next stop moves up.
    cards = page.locator("#crew-stops > li")
    assert cards.evaluate_all("els => els.map(e => Number(e.dataset.incident))") == [
        second.pk, first.pk]
    expect(page.locator(f"#stop-{second.pk}")).to_have_class(re.compile(r"\bis-next\b"))
    screenshot(page, "crew-first-fixed")


def test_offline_actions_wait_on_the_phone_and_replay_once_in_order(asgi_server, local_only,
                                                                    route):
    _first, second = route
    updates_before = IncidentUpdate.objects.filter(incident=second).count()
    page = crew_page(local_only, asgi_server)
    card = page.locator(f"#stop-{second.pk}")
    card.locator(".crew-stop-head").click()

    local_only.set_offline(True)
    expect(page.locator("#crew-offline")).to_be_visible()
    card.locator("[data-act=en_route]").click()
    expect(card).to_have_attribute("data-status", "en_route")
    card.locator("[data-act=on_site]").click()
    expect(card).to_have_attribute("data-status", "on_site")
    expect(page.locator("#crew-waiting")).to_contain_text("2 actions waiting")
    expect(card.locator(".crew-queued")).to_contain_text("On my way")
    screenshot(page, "crew-offline-queued")
    assert status_of(second) == Status.ASSIGNED
    assert IncidentUpdate.objects.filter(incident=second).count() == updates_before
    assert CrewAction.objects.count() == 0

    # Back in signal, the first answer is lost on the way back: the server applied the action
    # but the phone never heard, so it must send it again.
    lost: list[str] = []

    def lose_first_answer(r):
        if lost:
            r.continue_()
            return
        lost.append(r.request.url)
        r.fetch()
        try:
            r.abort()
        except PlaywrightError as exc:
            # On a loaded machine the phone may give up waiting first: lost all the same.
            if "already handled" not in str(exc):
                raise

    page.route("**/api/v1/crew/stops/**", lose_first_answer)
    replayed: list[str | None] = []
    page.on("response", lambda resp: replayed.append(resp.headers.get("idempotent-replayed"))
            if "/api/v1/crew/stops/" in resp.url else None)
    local_only.set_offline(False)
    wait_for(page, lambda: status_of(second) == Status.EN_ROUTE)
    page.unroute("**/api/v1/crew/stops/**")
    # Sync asked for twice, and the page reloaded in the middle of the replay.
    page.evaluate("() => { RasadCrew.sync(); RasadCrew.sync(); }")
    page.reload()
    page.evaluate("() => Promise.all([RasadCrew.sync(), RasadCrew.sync()])")

    wait_for(page, lambda: status_of(second) == Status.ON_SITE)
    expect(page.locator("#crew-waiting")).to_be_hidden()
    expect(page.locator(f"#stop-{second.pk}")).to_have_attribute("data-status", "on_site")
    assert lost == [f"{asgi_server}/api/v1/crew/stops/{second.pk}/en_route/"]
    assert statuses_recorded(second)[-2:] == ["en_route", "on_site"]
    assert IncidentUpdate.objects.filter(incident=second).count() == updates_before + 2
    assert list(CrewAction.objects.order_by("pk").values_list("action", "response_status")) == [
        ("en_route", 200), ("on_site", 200)]
    assert "true" in replayed


def test_a_conflict_is_shown_with_the_current_state_and_nothing_is_overwritten(
        asgi_server, local_only, route, dispatcher):
    first, _second = route
    page = crew_page(local_only, asgi_server)
    card = page.locator(f"#stop-{first.pk}")
    local_only.set_offline(True)
    card.locator("[data-act=en_route]").click()
    card.locator("[data-act=on_site]").click()
    expect(card).to_have_attribute("data-status", "on_site")
    # Meanwhile dispatch takes the job back.
    incident_transition(incident=first, to=Status.VERIFIED, by=dispatcher,
                        note="Needs the big asphalt crew")
    seen = Incident.objects.get(pk=first.pk)
    updates = IncidentUpdate.objects.filter(incident=first).count()

    local_only.set_offline(False)

    problem = card.locator(".crew-problem")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text("Someone else changed this job")
    expect(problem.locator("[data-current-status]")).to_have_attribute(
        "data-current-status", "verified")
    expect(problem).to_contain_text("Not sent: On my way")
    expect(problem).to_contain_text("On site")
    expect(card).to_have_attribute("data-status", "verified")
    expect(page.locator("#crew-waiting")).to_contain_text("2 actions waiting")
    screenshot(page, "crew-conflict")
    current = Incident.objects.get(pk=first.pk)
    assert (current.status, current.version) == (Status.VERIFIED, seen.version)
    assert IncidentUpdate.objects.filter(incident=first).count() == updates
    # Only the first action went out; the one behind it is held on the phone.
    assert list(CrewAction.objects.values_list("action", "response_status")) == [
        ("en_route", 409)]

    problem.locator("[data-discard]").click()

    expect(page.locator("#crew-waiting")).to_be_hidden()
    expect(card.locator(".crew-problem")).to_have_count(0)
    expect(card).to_have_attribute("data-status", "verified")
    assert Incident.objects.get(pk=first.pk).version == seen.version


def test_after_a_conflict_the_held_actions_can_be_sent_on_the_new_version(
        asgi_server, local_only, route, dispatcher):
    first, _second = route
    page = crew_page(local_only, asgi_server)
    card = page.locator(f"#stop-{first.pk}")
    local_only.set_offline(True)
    card.locator("[data-act=en_route]").click()
    card.locator("[data-act=on_site]").click()
    # Dispatch only adds a note: the version moves, the status does not.
    incident_note_add(incident=first, by=dispatcher, note="Gate code 1234", public=False)
    local_only.set_offline(False)
    problem = card.locator(".crew-problem")
    expect(problem.locator("[data-current-status]")).to_have_attribute(
        "data-current-status", "assigned")

    problem.locator("[data-retry]").click()

    wait_for(page, lambda: status_of(first) == Status.ON_SITE)
    expect(page.locator("#crew-waiting")).to_be_hidden()
    expect(card).to_have_attribute("data-status", "on_site")
    assert statuses_recorded(first)[-2:] == ["en_route", "on_site"]
    assert list(CrewAction.objects.order_by("pk").values_list("action", "response_status")) == [
        ("en_route", 409), ("en_route", 200), ("on_site", 200)]


def test_cannot_fix_needs_a_reason_and_returns_the_job_to_dispatch(asgi_server, local_only,
                                                                    route):
    first, _second = route
    page = crew_page(local_only, asgi_server)
    card = page.locator(f"#stop-{first.pk}")
    card.locator("[data-act=on_site]").click()
    wait_for(page, lambda: status_of(first) == Status.ON_SITE)

    card.locator("[data-act=cannot_fix]").click()
    expect(page.locator("#crew-sheet-send")).to_be_disabled()
    page.locator("#crew-sheet [data-reason]").first.click()
    screenshot(page, "crew-cannot-fix")
    page.click("#crew-sheet-send")

    wait_for(page, lambda: status_of(first) == Status.VERIFIED)
    update = IncidentUpdate.objects.filter(incident=first).order_by("-pk").first()
    assert (update.from_status, update.to_status, update.note) == (
        "on_site", "verified", "Needs other equipment")
    expect(card).to_have_class(re.compile(r"\bis-done\b"))


def test_the_saved_route_is_shown_when_the_server_cannot_be_reached(asgi_server,
                                                                     phone_without_sw, route):
    first, second = route
    page = crew_page(phone_without_sw, asgi_server)
    expect(page.locator("#crew-source")).to_contain_text("Route updated")

    page.route("**/api/v1/crew/today/", lambda r: r.abort())
    page.reload()

    cards = page.locator("#crew-stops > li")
    expect(cards).to_have_count(2)
    assert cards.evaluate_all("els => els.map(e => Number(e.dataset.incident))") == [
        first.pk, second.pk]
    expect(page.locator("#crew-source")).to_contain_text("Showing the route saved on this phone")
    expect(page.locator("#crew-offline")).to_be_visible()
    expect(page.locator(".crew-pin")).to_have_count(2)


def test_gps_pings_reach_the_server_and_wait_while_offline(asgi_server, local_only, route):
    page = crew_page(local_only, asgi_server)

    wait_for(page, lambda: CrewPosition.objects.filter(crew__code="road-1").count() == 1)
    expect(page.locator("#crew-gps")).to_have_attribute("data-state", "on")
    local_only.set_offline(True)
    local_only.set_geolocation({"latitude": 60.1680, "longitude": 24.9400})
    page.wait_for_function("""async () => (await new Promise(r => {
        const q = indexedDB.open("rasad-crew"); q.onsuccess = () => {
          const g = q.result.transaction("items").objectStore("items").getAll();
          g.onsuccess = () => r(g.result.filter(i => i.key.includes(":ping:")).length); }; }))
        >= 1""")
    assert CrewPosition.objects.filter(crew__code="road-1").count() == 1
    local_only.set_offline(False)

    wait_for(page, lambda: CrewPosition.objects.filter(crew__code="road-1").count() == 2)
    points = [(round(p.location.x, 4), round(p.location.y, 4)) for p in
              CrewPosition.objects.filter(crew__code="road-1").order_by("recorded_at")]
    assert points == [PHONE_AT, (24.9400, 60.1680)]


def test_persian_crew_view_is_right_to_left(asgi_server, local_only, route):
    page = crew_page(local_only, asgi_server)

    page.select_option("select[name=language]", "fa")
    page.wait_for_url(f"{asgi_server}/crew/")
    expect(page.locator("#crew-stops > li")).to_have_count(2)

    assert page.get_attribute("html", "dir") == "rtl"
    assert page.get_attribute("html", "lang") == "fa"
    assert page.evaluate("getComputedStyle(document.querySelector('.crew-stop-head')).direction") \
        == "rtl"
    screenshot(page, "crew-fa")


def test_a_user_who_is_not_crew_gets_403(asgi_server, local_only, route):
    page = local_only.new_page()
    login(page, asgi_server, "dispatcher", "rasad-dispatcher")

    response = page.goto(f"{asgi_server}/crew/")

    assert response.status == 403
    expect(page.locator("h1")).to_have_text("This page is for crew members")
    expect(page.locator("#crew-stops")).to_have_count(0)


def test_anonymous_visitors_are_sent_to_sign_in(asgi_server, local_only):
    page = local_only.new_page()

    page.goto(f"{asgi_server}/crew/")

    assert page.url == f"{asgi_server}/accounts/login/?next=/crew/"
