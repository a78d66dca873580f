"""Referral pages in a real Chromium: the dispatcher refers an incident to an outside agency
from the console (Arabic), and the citizen's tracking page says which agency has it and
since when (Persian, right to left)."""

import pytest
from playwright.sync_api import expect

from fixtures.city import demo_city_load, demo_users_load
from incidents.models import Agency, Category, Incident, Notification, Referral
from tests.map_ui.conftest import PHONE, pages_close_and_wait_quiet, screenshot
from tests.map_ui.test_console import console_open, list_item, post_report, verify

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _server_quiet(desk):
    yield
    pages_close_and_wait_quiet(desk)


@pytest.fixture
def agency():
    demo_city_load()
    demo_users_load()
    electricity = Agency.objects.create(
        code="electricity", name_en="Electricity Company", name_ar="شركة الكهرباء",
        name_fa="شرکت برق", email="referrals@electricity.example", answer_due_days=3)
    electricity.categories.add(Category.objects.get(code="street-light"))
    Agency.objects.create(code="police", name_en="Traffic Police", email="311@police.example")
    return electricity


def test_dispatcher_refers_an_incident_from_the_console_in_arabic(asgi_server, desk, agency):
    incident_id = post_report(asgi_server, category="street-light", lon=24.9400, lat=60.1680,
                              email="citizen@example.org", description="Dark street")
    verify(asgi_server, incident_id)
    page = console_open(desk, asgi_server, language="ar")
    list_item(page, incident_id).locator("button.inc-open").click()

    # the agencies that handle street lights come first
    expect(page.locator("#refer-agency option").nth(1)).to_have_attribute("value", "electricity")
    page.select_option("#refer-agency", "electricity")
    page.fill("#transition-note", "The feeder cable is the company's")
    page.locator("#refer-button").click()

    page.locator("#pane-detail .badge.status-referred").first.wait_for()
    expect(page.locator("#referral-info")).to_contain_text("شركة الكهرباء")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    screenshot(page, "console-referred-ar")
    incident = Incident.objects.get(pk=incident_id)
    assert (incident.status, incident.referred_to_id) == ("referred", agency.pk)
    referral = Referral.objects.get(incident_id=incident_id)
    assert referral.note == "The feeder cable is the company's"
    assert Notification.objects.filter(report__incident_id=incident_id,
                                       update__to_status="referred").count() == 1


def test_tracking_page_shows_the_agency_and_the_date_in_persian(asgi_server, browser, agency):
    from incidents.models import Report
    from incidents.services import incident_transition
    from incidents.services.referrals import incident_refer

    incident_id = post_report(asgi_server, category="street-light", lon=24.9400, lat=60.1680,
                              description="Dark street")
    incident = incident_transition(incident=Incident.objects.get(pk=incident_id),
                                   to="verified")
    incident_refer(incident=incident, agency=agency)
    code = Report.objects.get(incident_id=incident_id).tracking_code
    context = browser.new_context(**PHONE, locale="fa-IR")
    try:
        context.route("https://*.openstreetmap.org/**", lambda route: route.abort())
        page = context.new_page()
        context.add_cookies([{"name": "django_language", "value": "fa",
                              "url": asgi_server}])

        page.goto(f"{asgi_server}/track/{code}/")

        expect(page.locator("#referral")).to_be_visible()
        expect(page.locator("#referral")).to_contain_text("شرکت برق")
        expect(page.locator("#status")).to_have_class("badge status-referred")
        assert page.evaluate("document.documentElement.dir") == "rtl"
        screenshot(page, "track-referred-fa")
    finally:
        pages_close_and_wait_quiet(context)
        context.close()
