"""The call desk (/console/intake/) in a real Chromium against a real ASGI server: a returning
caller looked up by phone, a street found by its Arabic name, open incidents nearby offered
while the caller is on the line, a report filed with its tracking code read back, a caller
attached to an open incident ("me too"), and a bad number refused — each page in another
language (ar, en, fa).

Each test loads the demo city and its users (fixtures.city) and two named streets of central
Helsinki (gis.roads.roads_import of a tiny .osm, one street with name:ar and name:fa)."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import translation
from django.utils.translation import gettext

from fixtures.city import demo_city_load, demo_users_load
from gis.models import Street
from gis.roads import roads_import
from incidents.models import Channel, Incident, Notification, Report
from incidents.services import ReportInput, report_submit
from tests.map_ui.conftest import login, pages_close_and_wait_quiet, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AGENT = ("agent", "rasad-agent")
CALLER_PHONE = "+358401234567"
CALLER_NAME = "سارة نيمي"
MANNERHEIM_AR = "شارع مانرهايم"
READY = "document.body.dataset.deskReady === 'true'"
DONE = "document.getElementById('desk-done').open"
IDLE = "document.body.dataset.busy !== 'true'"
# (name, tags, [(lon, lat)]): they cross at 24.9400 E 60.1690 N.
STREETS = [
    ("Mannerheimintie", {"highway": "primary", "name:ar": MANNERHEIM_AR, "name:fa": "خیابان مانرهایم"},
     [(24.9400, 60.1660), (24.9400, 60.1690), (24.9400, 60.1715), (24.9400, 60.1740)]),
    ("Aleksanterinkatu", {"highway": "residential", "name:sv": "Alexandersgatan"},
     [(24.9360, 60.1690), (24.9400, 60.1690), (24.9440, 60.1690), (24.9480, 60.1690)]),
]


def streets_write(path: Path) -> Path:
    """Two named streets as OSM XML; shared points are shared nodes."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="tests">']
    nodes: dict[tuple[float, float], int] = {}
    for _name, _tags, points in STREETS:
        for lon, lat in points:
            if (lon, lat) not in nodes:
                nodes[lon, lat] = len(nodes) + 1
                lines.append(f'  <node id="{nodes[lon, lat]}" version="1" lat="{lat:.6f}" '
                             f'lon="{lon:.6f}"/>')
    for way, (name, tags, points) in enumerate(STREETS, start=1):
        lines.append(f'  <way id="{way}" version="1">')
        lines += [f'    <nd ref="{nodes[p]}"/>' for p in points]
        lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in {"name": name, **tags}.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _server_quiet(desk):
    yield
    pages_close_and_wait_quiet(desk)


@pytest.fixture
def demo(tmp_path):
    demo_city_load()
    demo_users_load()
    roads_import(path=streets_write(tmp_path / "streets.osm"))
    return {"agent": get_user_model().objects.get(username=AGENT[0])}


@pytest.fixture
def returning_caller(demo):
    """The caller's earlier report: a pothole on Mannerheimintie, taken by phone, still open."""
    result = report_submit(data=ReportInput(
        category_code="pothole", lon=24.94008, lat=60.17008, attributes={"size": "large"},
        description="حفرة عميقة أمام المحطة", channel=Channel.PHONE, language="ar",
        reporter_name=CALLER_NAME, reporter_phone=CALLER_PHONE), submitted_by=demo["agent"])
    return result.report


def desk_open(context, base: str, language: str):
    """Signed in as the demo intake agent, on the desk in `language`. Basemap tiles are
    refused (no internet in tests): the page draws our own streets."""
    context.route("https://*.openstreetmap.org/**", lambda route: route.abort())
    context.add_cookies([{"name": "django_language", "value": language, "url": base}])
    page = context.new_page()
    login(page, base, *AGENT)
    page.goto(f"{base}/console/intake/")
    page.wait_for_function(READY, timeout=15000)
    return page


def place_pick(page, query: str) -> None:
    """Alt+L, type, take the first place offered with Enter."""
    page.keyboard.press("Alt+KeyL")
    page.locator("#desk-place").fill(query)
    page.locator("#desk-place-list [role=option]").first.wait_for()
    page.keyboard.press("Enter")
    page.wait_for_function("window.RasadDesk.state.location !== null")


def category_pick(page, typed: str) -> None:
    """Alt+C, type to filter, Enter takes the first match."""
    page.keyboard.press("Alt+KeyC")
    page.keyboard.type(typed)
    page.keyboard.press("Enter")
    page.wait_for_function("window.RasadDesk.state.category !== null")


def test_returning_caller_is_recognised_and_their_new_report_is_filed_in_arabic(
        asgi_server, desk, demo, returning_caller):
    # given: the desk in Arabic, the phone field focused
    page = desk_open(desk, asgi_server, "ar")
    assert page.evaluate("[document.documentElement.dir, document.documentElement.lang]") == ["rtl", "ar"]
    assert page.evaluate("document.activeElement.id") == "desk-phone"

    # when: the agent types the caller's number as said, and Enter
    page.keyboard.type("+358 40 123 4567")
    page.keyboard.press("Enter")
    past = page.locator(f'#desk-history-list li[data-code="{returning_caller.tracking_code}"]')
    past.wait_for(timeout=5000)

    # then: the number normalised, their name and language filled in, the open report marked
    assert page.locator("#desk-phone").input_value() == CALLER_PHONE
    assert page.locator("#desk-name").input_value() == CALLER_NAME
    assert page.locator("#desk-language").input_value() == "ar"
    assert past.get_attribute("class") == "desk-report is-open"
    assert past.locator("button[data-join]").get_attribute("data-join") == str(returning_caller.incident_id)
    assert page.locator("#desk-caller .desk-number").inner_text() == CALLER_PHONE

    # when: the street by its Arabic name (↓ then ↑ back to the first), and the category
    page.keyboard.press("Alt+KeyL")
    page.locator("#desk-place").fill("مانرهايم")
    first = page.locator("#desk-place-list [role=option]").first
    first.wait_for()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    assert first.get_attribute("aria-selected") == "true"
    assert first.locator(".desk-option-name").inner_text() == MANNERHEIM_AR
    page.keyboard.press("Enter")
    page.wait_for_function("window.RasadDesk.state.location !== null")
    category_pick(page, "حفرة")
    page.locator("#desk-q-size").select_option("medium")

    # then: the caller's own open incident is offered nearby
    own = page.locator(f'#desk-nearby-list li[data-incident="{returning_caller.incident_id}"]')
    own.wait_for(timeout=5000)
    assert own.get_attribute("class") == "desk-incident is-callers"
    assert page.locator("#desk-address").input_value() != ""
    screenshot(page, "desk-ar-call")

    # when: a description, and Ctrl+Enter files it
    page.keyboard.press("Alt+KeyM")
    page.keyboard.type("حفرة جديدة بجانب الرصيف")
    page.keyboard.press("Control+Enter")
    page.wait_for_function(DONE, timeout=10000)
    code = page.locator("#desk-done-code").inner_text()
    screenshot(page, "desk-ar-filed")

    # then: the report is stored as the agent took it, and the caller's SMS receipt queued
    report = Report.objects.get(tracking_code=code)
    assert (report.channel, report.language, report.reporter_phone, report.reporter_name) == (
        Channel.PHONE, "ar", CALLER_PHONE, CALLER_NAME)
    assert (report.submitted_by, report.user, report.category.code, report.attributes) == (
        demo["agent"], None, "pothole", {"size": "medium"})
    assert report.description == "حفرة جديدة بجانب الرصيف"
    street = Street.objects.get(name="Mannerheimintie")
    assert (report.location.x, report.location.y) == (pytest.approx(street.point.x, abs=1e-6),
                                                      pytest.approx(street.point.y, abs=1e-6))
    receipt = Notification.objects.get(report=report)
    assert (receipt.kind, receipt.channel, receipt.recipient) == ("receipt", "sms", CALLER_PHONE)
    assert page.locator("#desk-done-spell li").count() == len(code)
    assert page.locator("#desk-done-spell li .ch").all_inner_texts() == list(code)

    # when: Esc starts the next call
    page.keyboard.press("Escape")
    page.wait_for_function(f"!({DONE}) && document.body.dataset.filed === undefined")

    # then: an empty form, the phone field focused
    assert page.evaluate("document.activeElement.id") == "desk-phone"
    assert [page.locator(f"#{i}").input_value() for i in
            ("desk-phone", "desk-name", "desk-place", "desk-category", "desk-description")] == [""] * 5
    assert page.locator("#desk-history-list li").count() == 0
    assert page.evaluate("window.RasadDesk.state.location") is None


def test_caller_is_attached_to_an_open_incident_nearby_with_me_too(asgi_server, desk, demo):
    # given: bins reported on Aleksanterinkatu from the web
    incident = report_submit(data=ReportInput(
        category_code="garbage", lon=24.9430, lat=60.1691, channel=Channel.WEB,
        language="en", description="Bins overflowing")).report.incident
    page = desk_open(desk, asgi_server, "en")
    assert page.evaluate("document.documentElement.dir") == "ltr"

    # when: a new caller, the street and the category; then "me too" on that incident
    page.keyboard.type("+358 50 765 4321")
    page.keyboard.press("Enter")
    page.locator("#desk-caller .desk-number").wait_for()
    page.locator("#desk-name").fill("Matti Meikäläinen")
    place_pick(page, "Aleksanterinkatu")
    category_pick(page, "garb")
    page.locator("#desk-description").fill("Same bins, now blocking the pavement")
    attach = page.locator(f'#desk-nearby-list li[data-incident="{incident.pk}"] button')
    attach.wait_for(timeout=5000)
    screenshot(page, "desk-en-nearby")
    attach.click()
    page.wait_for_function(DONE, timeout=10000)
    code = page.locator("#desk-done-code").inner_text()
    screenshot(page, "desk-en-joined")

    # then: the caller's report joined that incident
    report = Report.objects.get(tracking_code=code)
    assert (report.joined_existing, report.incident_id, report.channel, report.language) == (
        True, incident.pk, Channel.PHONE, "en")
    assert (report.reporter_phone, report.reporter_name, report.submitted_by) == (
        "+358507654321", "Matti Meikäläinen", demo["agent"])
    assert report.description == "Same bins, now blocking the pavement"
    assert Incident.objects.get(pk=incident.pk).report_count == 2
    receipt = Notification.objects.get(report=report)
    assert (receipt.kind, receipt.channel, receipt.recipient) == ("receipt", "sms", "+358507654321")


def test_returning_caller_joins_their_own_open_incident_from_their_history(
        asgi_server, desk, demo, returning_caller):
    # given
    page = desk_open(desk, asgi_server, "ar")

    # when: the caller is looked up and "me too" is pressed on their open report
    page.keyboard.type(CALLER_PHONE)
    page.keyboard.press("Enter")
    past = page.locator(f'#desk-history-list li[data-code="{returning_caller.tracking_code}"]')
    past.locator("button[data-join]").click()
    page.wait_for_function(DONE, timeout=10000)
    code = page.locator("#desk-done-code").inner_text()

    # then
    report = Report.objects.get(tracking_code=code)
    assert (report.joined_existing, report.incident_id, report.reporter_phone, report.language) == (
        True, returning_caller.incident_id, CALLER_PHONE, "ar")
    assert Incident.objects.get(pk=returning_caller.incident_id).report_count == 2


def test_bad_phone_number_shows_the_error_and_files_nothing(asgi_server, desk, demo):
    # given: the desk in Persian
    page = desk_open(desk, asgi_server, "fa")
    with translation.override("fa"):
        expected = gettext("“%(value)s” is not a valid phone number; write it with the country "
                           "code, like +358401234567.") % {"value": "+358 12"}

    # when: a number too short to be one
    page.keyboard.type("+358 12")
    page.keyboard.press("Enter")
    error = page.locator('[data-error-for="phone"]')
    page.wait_for_function("document.querySelector('[data-error-for=\"phone\"]').textContent !== ''")

    # then: the API's message under the field, no caller shown
    assert error.inner_text() == expected
    assert page.locator("#desk-phone").get_attribute("aria-invalid") == "true"
    assert page.locator("#desk-caller").is_hidden()
    screenshot(page, "desk-fa-bad-phone")

    # when: the agent files anyway
    place_pick(page, "Aleksanterinkatu")
    category_pick(page, "garbage")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/reports/")) as answer:
        page.keyboard.press("Control+Enter")
    page.wait_for_function(IDLE)

    # then: refused with the same message; nothing filed, no SMS
    assert answer.value.status == 400
    assert error.inner_text() == expected
    assert page.evaluate(DONE) is False
    assert (Report.objects.count(), Notification.objects.count()) == (0, 0)
