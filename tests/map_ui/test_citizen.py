"""The citizen pages in a real browser on a phone: reporting with questions, photos and the
pin; "is this it?" for open incidents nearby; photo limits checked in the page; escaping;
the offline outbox sent exactly once; tracking, confirming and reopening; RTL; the
service worker."""

import os
import re

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from fixtures.city import demo_city_load, demo_users_load
from incidents.models import Incident, Report, Status
from incidents.services import ReportInput, incident_transition, report_submit
from tests.conftest import jpeg_bytes
from tests.map_ui.conftest import PHONE, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Where the phone's GPS says it is (the `phone` fixture): Kamppi, inside the demo city.
PHONE_AT = (24.9384, 60.1699)
CODE = re.compile(r"^[2-9A-Z]{4}-[2-9A-Z]{4}$")
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def demo():
    demo_city_load()
    demo_users_load()


@pytest.fixture
def local_only(phone):
    """No internet in tests: basemap tiles fail at once instead of waiting on DNS."""
    phone.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    return phone


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "pothole.jpg"
    path.write_bytes(jpeg_bytes(size=(640, 480)))
    return path


def report_page(context, base: str):
    page = context.new_page()
    page.goto(f"{base}/")
    expect(page.locator(".category")).to_have_count(12)
    return page


def locate(page) -> None:
    page.click("#locate")
    expect(page.locator("#location-status")).to_have_class(re.compile(r"\bok\b"))


def pothole_on_the_form(page, photo) -> None:
    page.click(".category[data-code=pothole]")
    page.check("input[name=q-size][value=medium]")
    page.set_input_files("#photos", str(photo))
    expect(page.locator(".photo-thumb")).to_have_count(1)
    locate(page)


def report_on_file(*, category="pothole", lon=PHONE_AT[0], lat=PHONE_AT[1], **fields) -> Report:
    return report_submit(data=ReportInput(category_code=category, lon=lon, lat=lat, **fields)).report


def test_citizen_reports_a_pothole_with_a_photo_and_gets_a_tracking_code(
        asgi_server, local_only, demo, photo):
    page = report_page(local_only, asgi_server)
    screenshot(page, "citizen-report-start")
    page.click(".category[data-code=pothole]")
    page.click("#send")
    # Checked in the page, with the server's own message.
    expect(page.locator('[data-error-for="attribute[size]"]')).to_have_text("“How big is it?” must be answered.")
    expect(page.locator("[data-error-for=location]")).to_have_text("Put the pin on the map where the problem is.")
    screenshot(page, "citizen-report-errors")
    page.check("input[name=q-size][value=medium]")
    page.set_input_files("#photos", str(photo))
    expect(page.locator(".photo-thumb")).to_have_count(1)
    locate(page)
    page.fill("#description", "Deep hole by the tram stop")
    screenshot(page, "citizen-report-form")

    page.click("#send")

    code = page.locator("#done-code")
    expect(code).to_have_text(CODE)
    screenshot(page, "citizen-report-done")
    report = Report.objects.get(tracking_code=code.inner_text())
    assert report.category.code == "pothole"
    assert report.attributes == {"size": "medium"}
    assert report.description == "Deep hole by the tram stop"
    assert report.language == "en"
    assert (round(report.location.x, 4), round(report.location.y, 4)) == PHONE_AT
    assert [(p.width, p.height, p.state) for p in report.photos.all()] == [(640, 480, "ready")]
    assert report.photos.get().image.storage.exists(report.photos.get().image.name)
    assert page.get_attribute("#done-link", "href") == f"/track/{report.tracking_code}/"


def test_citizen_follows_an_open_incident_nearby_instead_of_filing_a_new_one(
        asgi_server, local_only, demo, photo):
    first = report_on_file(category="street-light", lon=24.93845, lat=60.16995)
    page = report_page(local_only, asgi_server)
    page.click(".category[data-code=street-light]")
    page.set_input_files("#photos", str(photo))
    locate(page)

    page.click("#send")

    card = page.locator(f".nearby-card[data-incident='{first.incident_id}']")
    expect(card).to_be_visible()
    expect(card.locator("h3")).to_have_text("Street light out")
    expect(card.locator(".badge")).to_have_text("new")
    expect(card).to_contain_text("1 report · 6 m from your pin")
    screenshot(page, "citizen-report-nearby")
    card.get_by_role("button", name="Yes, this is it — follow it").click()
    expect(page.locator("#done-code")).to_have_text(CODE)
    joined = Report.objects.get(tracking_code=page.locator("#done-code").inner_text())
    assert joined.incident_id == first.incident_id
    assert joined.joined_existing is True
    assert Incident.objects.get(pk=first.incident_id).report_count == 2
    assert Report.objects.count() == 2


def test_a_photo_over_the_limit_is_refused_in_the_page_before_any_upload(
        asgi_server, local_only, demo, tmp_path):
    assert settings.RASAD_PHOTO_MAX_BYTES == 8 * 1024 * 1024  # what the server runs with
    big = tmp_path / "big.jpg"
    big.write_bytes(os.urandom(8 * 1024 * 1024 + 1))
    sent = []
    local_only.on("request", lambda r: sent.append(r.url) if r.method != "GET" else None)
    page = report_page(local_only, asgi_server)
    page.click(".category[data-code=street-light]")

    page.set_input_files("#photos", str(big))

    expect(page.locator("[data-error-for=photos]")).to_have_text(
        "The photo “big.jpg” is 8.4 MB; the limit is 8.3 MB.")
    expect(page.locator(".photo-thumb")).to_have_count(0)
    screenshot(page, "citizen-report-photo-too-big")
    assert sent == []
    assert Report.objects.count() == 0


def test_the_servers_errors_are_shown_on_their_fields(asgi_server, local_only, demo):
    page = report_page(local_only, asgi_server)
    page.click(".category[data-code=street-light]")
    locate(page)
    page.click("#contact summary")
    # Both pass the page's quick checks; the server knows better.
    page.fill("#email", "someone@example.c")
    page.fill("#phone", "+35840000")

    page.click("#send")

    expect(page.locator("[data-error-for=email]")).to_have_text(
        "“someone@example.c” is not a valid email address.")
    expect(page.locator("[data-error-for=phone]")).to_have_text(
        "“+35840000” is not a valid phone number; write it with the country code, like +358401234567.")
    screenshot(page, "citizen-report-server-errors")
    assert page.evaluate("RasadOutbox.all().then((items) => items.length)") == 0
    assert Report.objects.count() == 0


def test_a_waiting_report_the_server_refuses_needs_attention_and_goes_back_into_the_form(
        asgi_server, local_only, demo):
    page = report_page(local_only, asgi_server)
    page.click(".category[data-code=street-light]")
    locate(page)
    page.click("#contact summary")
    page.fill("#phone", "+35840000")
    local_only.set_offline(True)
    page.click("#send")
    expect(page.locator("#outbox [data-state=waiting]")).to_have_count(1)

    local_only.set_offline(False)

    refused = page.locator("#outbox [data-state=attention]")
    expect(refused).to_contain_text("needs your attention")
    expect(refused.locator(".error")).to_have_text(
        "“+35840000” is not a valid phone number; write it with the country code, like +358401234567.")
    screenshot(page, "citizen-report-needs-attention")
    page.evaluate("RasadOutbox.flush()")  # not sent again by itself
    expect(refused).to_have_count(1)
    assert Report.objects.count() == 0
    refused.get_by_role("button", name="Correct it").click()
    expect(page.locator("#outbox [data-state=attention]")).to_have_count(0)
    expect(page.locator(".category.selected")).to_have_attribute("data-code", "street-light")
    expect(page.locator("#phone")).to_have_value("+35840000")
    page.fill("#phone", "+358401234567")
    page.click("#send")
    expect(page.locator("#done-code")).to_have_text(CODE)
    assert Report.objects.get().reporter_phone == "+358401234567"


def test_a_description_with_html_shows_as_text_on_the_tracking_page(asgi_server, local_only, demo):
    report = report_on_file(category="other", description=XSS)
    dialogs = []
    page = local_only.new_page()
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    page.goto(f"{asgi_server}/track/{report.tracking_code}/")

    expect(page.locator("#description")).to_have_text(XSS)
    expect(page.locator("#timeline li")).to_have_count(1)
    assert page.locator("img[src=x]").count() == 0
    assert dialogs == []


def test_a_report_made_offline_waits_on_the_phone_and_is_sent_exactly_once(
        asgi_server, local_only, demo, photo):
    page = report_page(local_only, asgi_server)
    page.click(".category[data-code=street-light]")
    page.fill("#q-pole_number", "HEL-1234")
    page.set_input_files("#photos", str(photo))
    locate(page)
    local_only.set_offline(True)
    expect(page.locator("#offline-banner")).to_be_visible()

    page.click("#send")

    expect(page.locator("#done-queued")).to_be_visible()
    expect(page.locator("#outbox [data-state=waiting]")).to_contain_text("waiting to send")
    screenshot(page, "citizen-report-offline-waiting")
    assert Report.objects.count() == 0

    local_only.set_offline(False)

    sent = page.locator("#outbox [data-state=sent] a")
    expect(sent).to_have_text(CODE)
    expect(page.locator("#outbox [data-state=waiting]")).to_have_count(0)
    screenshot(page, "citizen-report-offline-sent")
    report = Report.objects.get()
    assert report.tracking_code == sent.inner_text()
    assert report.attributes == {"pole_number": "HEL-1234"}
    assert report.photos.count() == 1
    # Another sync, and a fresh page load that syncs again, send nothing more.
    page.evaluate("window.dispatchEvent(new Event('online')); RasadOutbox.flush()")
    page.reload()
    expect(page.locator(".category")).to_have_count(12)
    page.evaluate("RasadOutbox.flush()")
    assert page.evaluate("RasadOutbox.all().then((items) => items.length)") == 0
    assert Report.objects.count() == 1


def test_a_report_whose_answer_was_lost_is_retried_with_the_same_key_and_stored_once(
        asgi_server, browser, demo):
    context = browser.new_context(**PHONE, locale="en-GB", service_workers="block",
                                  geolocation={"latitude": PHONE_AT[1], "longitude": PHONE_AT[0]},
                                  permissions=["geolocation"])
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    keys = []

    def answer_lost_the_first_time(route):
        keys.append(route.request.header_value("Idempotency-Key"))
        if len(keys) == 1:
            route.fetch()  # the server stores the report, and the phone never hears back
            route.abort("connectionreset")
        else:
            route.continue_()

    context.route("**/api/v1/reports/", answer_lost_the_first_time)
    try:
        page = report_page(context, asgi_server)
        # No photo: Playwright cannot replay a request body that holds a Blob.
        page.click(".category[data-code=street-light]")
        locate(page)
        page.click("#send")
        expect(page.locator("#done-queued")).to_be_visible()
        expect(page.locator("#outbox [data-state=waiting]")).to_have_count(1)
        assert Report.objects.count() == 1

        page.evaluate("RasadOutbox.flush()")

        expect(page.locator("#outbox [data-state=sent] a")).to_have_text(
            Report.objects.get().tracking_code)
        assert len(keys) == 2
        assert keys[0] == keys[1]
        assert Report.objects.count() == 1
    finally:
        context.close()


def test_the_reporter_follows_the_status_then_confirms_and_reopens_the_fix(
        asgi_server, local_only, demo):
    report = report_on_file(attributes={"size": "small"}, description="By the tram stop",
                            photos=[("pothole.jpg", jpeg_bytes(size=(320, 240)))])
    dispatcher = get_user_model().objects.get(username="dispatcher")
    for to in (Status.VERIFIED, Status.ASSIGNED, Status.ON_SITE, Status.RESOLVED):
        incident_transition(incident=report.incident, to=to, by=dispatcher)
    dialogs = []
    page = local_only.new_page()
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{asgi_server}/track/{report.tracking_code}/")

    expect(page.locator("#status")).to_have_text("resolved")
    expect(page.locator("#category")).to_have_text("Pothole")
    expect(page.locator("#timeline li")).to_have_count(5)
    assert page.eval_on_selector_all("#timeline li", "els => els.map(e => e.dataset.status)") == [
        "new", "verified", "assigned", "on_site", "resolved"]
    expect(page.locator("#timeline li").first.locator(".badge")).to_have_text("new")
    expect(page.locator(".track-map .track-pin")).to_have_count(1)
    expect(page.locator("#photos img")).to_have_attribute("src", re.compile(r"/media/.+\.jpg$"))
    screenshot(page, "citizen-track-resolved")

    page.get_by_role("button", name="Fixed — thank you").click()

    expect(page.locator("#status")).to_have_text("closed")
    assert Incident.objects.get(pk=report.incident_id).status == Status.CLOSED

    page.get_by_role("button", name="Still a problem").click()
    page.click("#reopen-form button[type=submit]")
    expect(page.locator("#reopen-form [data-error-for=reason]")).to_have_text("Tell us what is still wrong.")
    page.fill("#reopen-reason", XSS)
    page.click("#reopen-form button[type=submit]")

    expect(page.locator("#status")).to_have_text("reopened")
    expect(page.locator("#timeline li").last.locator(".note")).to_have_text(
        f"Reopened by the reporter: {XSS}")
    page.locator("#timeline li").last.scroll_into_view_if_needed()
    screenshot(page, "citizen-track-reopened")
    assert Incident.objects.get(pk=report.incident_id).status == Status.REOPENED
    assert page.locator("img[src=x]").count() == 0
    assert dialogs == []


def test_a_typed_code_opens_its_report_and_an_unknown_code_gets_a_friendly_404(
        asgi_server, local_only, demo):
    report = report_on_file(attributes={"size": "small"})
    page = local_only.new_page()
    page.goto(f"{asgi_server}/track/")
    page.fill("#code", report.tracking_code.lower().replace("-", " "))
    page.click(".lookup button[type=submit]")
    expect(page).to_have_url(f"{asgi_server}/track/{report.tracking_code}/")
    expect(page.locator("#status")).to_have_text("new")
    screenshot(page, "citizen-track-new")

    response = page.goto(f"{asgi_server}/track/ZZZZ-ZZZZ/")

    assert response.status == 404
    expect(page.locator(".not-found h1")).to_have_text("We could not find that report")
    expect(page.locator(".not-found")).to_contain_text("ZZZZ-ZZZZ")
    expect(page.locator("#my-reports-list a")).to_have_text([report.tracking_code])
    screenshot(page, "citizen-track-404")


@pytest.mark.parametrize(("lang", "pothole", "digits"), [
    ("ar", "حفرة في الطريق", "[٠-٩]"),
    ("fa", "چاله در جاده", "[۰-۹]"),
])
def test_the_report_flow_mirrors_right_to_left_in_arabic_and_persian(
        asgi_server, local_only, demo, lang, pothole, digits):
    page = report_page(local_only, asgi_server)
    with page.expect_navigation():
        page.select_option("select[name=language]", lang)
    expect(page.locator(".category")).to_have_count(12)

    assert page.get_attribute("html", "dir") == "rtl"
    assert page.get_attribute("html", "lang") == lang
    width = page.viewport_size["width"]
    assert page.locator(".leaflet-control-zoom").bounding_box()["x"] > width / 2
    assert page.locator("#locate").bounding_box()["x"] > width / 2
    expect(page.locator(".category[data-code=pothole]")).to_have_text(pothole)
    page.click(".category[data-code=pothole]")
    page.check("input[name=q-size][value=large]")
    page.locator(".folium-map").click()  # the middle of the map, inside the city
    expect(page.locator("#location-status")).to_have_class(re.compile(r"\bok\b"))
    screenshot(page, f"citizen-report-{lang}")
    page.click("#send")
    code = page.locator("#done-code")
    expect(code).to_have_text(CODE)
    screenshot(page, f"citizen-report-done-{lang}")
    report = Report.objects.get(tracking_code=code.inner_text())
    assert report.language == lang
    assert report.attributes == {"size": "large"}

    page.click("#done-link")

    expect(page.locator("#status")).to_have_attribute("data-status", "new")
    assert page.get_attribute("html", "dir") == "rtl"
    expect(page.locator("#reported-at")).to_have_text(re.compile(digits))
    screenshot(page, f"citizen-track-{lang}")


def test_the_report_page_opens_offline_from_the_service_worker(asgi_server, local_only, demo):
    page = report_page(local_only, asgi_server)
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.reload()  # now through the worker, which keeps the category list
    expect(page.locator(".category")).to_have_count(12)
    cached = page.evaluate("""async () => {
        const urls = ['/', '/track/', '/static/map_ui/js/report.js', '/static/vendor/leaflet/leaflet.js',
                      '/static/map_ui/icons/snowflake.svg', '/api/v1/categories/?__lang=en'];
        return Promise.all(urls.map(async (u) => !!(await caches.match(u, {ignoreVary: true}))));
    }""")
    assert cached == [True] * 6

    local_only.set_offline(True)
    page.reload()

    expect(page.locator(".category")).to_have_count(12)
    expect(page.locator("#offline-banner")).to_be_visible()
    screenshot(page, "citizen-report-offline-shell")


def test_on_a_desk_the_form_sits_beside_the_map(asgi_server, desk, demo):
    page = report_page(desk, asgi_server)

    map_box = page.locator(".folium-map").bounding_box()
    sheet_box = page.locator("#sheet").bounding_box()
    assert sheet_box["x"] >= map_box["x"] + map_box["width"] - 1
    assert sheet_box["y"] == map_box["y"]
    screenshot(page, "citizen-report-desk")


def test_the_service_worker_is_served_from_the_root_for_the_whole_site(asgi_server):
    response = httpx.get(f"{asgi_server}/sw.js")

    assert response.status_code == 200
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert '"/static/map_ui/js/report.js"' in response.text
    assert '"/crew/"' in response.text
