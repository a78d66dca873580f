"""Town-hall meetings in a real browser, as the intake agent records them: a meeting of a
district, then its needs one line each, in Arabic (right to left; a need at a place by a
click on the map, filed as a report) and in Persian (a district need moved on)."""

import time

import pytest
from django.contrib.auth import get_user_model

from fixtures.city import demo_city_load, demo_users_load
from incidents.models import Meeting, MeetingNeed, Report
from tests.conftest import jpeg_bytes
from tests.map_ui.conftest import login, pages_close_and_wait_quiet, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
AGENT = ("agent", "rasad-agent")


@pytest.fixture
def demo(desk):
    demo_city_load()
    demo_users_load()
    yield get_user_model().objects.get(username=AGENT[0])
    pages_close_and_wait_quiet(desk)


def meetings_open(context, base: str, language: str):
    context.route("https://*.openstreetmap.org/**", lambda route: route.abort())
    context.add_cookies([{"name": "django_language", "value": language, "url": base}])
    page = context.new_page()
    login(page, base, *AGENT)
    page.goto(f"{base}/console/meetings/")
    page.locator("#mt-new").wait_for()
    return page


def meeting_record(page) -> Meeting:
    page.locator("#mt-new summary").click()
    page.fill("#mt-held", "2026-11-20T18:00")
    page.select_option("#mt-district", "kamppi")
    page.fill("#mt-place", "Kamppi library hall")
    page.fill("#mt-attendance", "35")
    page.locator("#mt-new-form button[type=submit]").click()
    page.locator("#mt-detail:not(.hidden)").wait_for()
    return Meeting.objects.get()


def test_an_agent_records_a_meeting_and_a_need_on_the_map_in_arabic(asgi_server, desk, demo):
    page = meetings_open(desk, asgi_server, "ar")
    assert page.evaluate("document.documentElement.dir") == "rtl"

    meeting = meeting_record(page)
    page.select_option("#mt-category", "pothole")
    box = page.locator(".mt-map-pane .folium-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.fill("#mt-text", "حفرة أمام المكتبة")
    page.fill("#mt-email", "resident@example.org")
    page.locator("#mt-need-form button[type=submit]").click()
    row = page.locator("#mt-needs tbody tr")
    row.wait_for()

    report = Report.objects.get()
    assert (report.channel, report.description, report.category.code) == (
        "meeting", "حفرة أمام المكتبة", "pothole")
    assert MeetingNeed.objects.get().report_id == report.pk
    assert meeting.district.code == "kamppi"
    assert "حفرة أمام المكتبة" in row.inner_text()
    assert report.tracking_code in row.inner_text()
    assert "resident@example.org" not in page.content()

    page.set_input_files("#mt-photo", files=[{"name": "hall.jpg", "mimeType": "image/jpeg",
                                              "buffer": jpeg_bytes()}])
    page.locator("#mt-photos img").wait_for()
    assert meeting.photos.count() == 1
    screenshot(page, "meetings-ar")


def test_a_district_need_moves_on_in_persian(asgi_server, desk, demo):
    page = meetings_open(desk, asgi_server, "fa")
    meeting_record(page)

    page.check("#mt-district-need")
    assert page.locator(".mt-place-field").is_hidden()
    page.fill("#mt-text", "یک پارک برای کودکان")
    page.check("#mt-answered")
    page.fill("#mt-answer", "در برنامهٔ سال آینده است")
    page.locator("#mt-need-form button[type=submit]").click()
    select = page.locator("#mt-needs select[data-need]")
    select.wait_for()
    select.select_option("planned")
    deadline = time.monotonic() + 10
    while MeetingNeed.objects.get().status != "planned" and time.monotonic() < deadline:
        time.sleep(0.1)

    need = MeetingNeed.objects.get()
    assert (need.report_id, need.answered, need.text, need.status) == (
        None, True, "یک پارک برای کودکان", "planned")
    assert page.evaluate("document.documentElement.lang") == "fa"
    assert "۳۵" in page.locator("#mt-facts").inner_text()  # Persian digits
    screenshot(page, "meetings-fa")
