"""Storm mode in a real browser, in Arabic and Persian: the citizen page shows the banner, the
hazard's categories first and the paused ones not offered; the console shows the storm panel;
a manager switches storm mode on from the console."""

import re

import httpx
import pytest
from playwright.sync_api import expect

from crews.models import EmergencyMode
from fixtures.city import demo_city_load, demo_crews_load, demo_users_load
from fixtures.storm_demo import HAZARD_CATEGORIES, MESSAGES, PAUSED_CATEGORIES, storm_demo_start
from tests.map_ui.conftest import login, pages_close_and_wait_quiet, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DIGIT_ONE = {"ar": "١", "fa": "۱"}


@pytest.fixture
def demo():
    area = demo_city_load()
    demo_users_load()
    demo_crews_load()
    return area


@pytest.fixture
def offline(phone, desk):
    """No internet in tests: tiles fail at once."""
    for context in (phone, desk):
        context.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    yield
    pages_close_and_wait_quiet(phone, desk)


@pytest.mark.parametrize("language", ["ar", "fa"])
def test_the_citizen_page_shows_the_storm_banner_and_the_hazards_categories_first(
        asgi_server, phone, offline, demo, language):
    storm_demo_start(hours=4)
    phone.add_cookies([{"name": "django_language", "value": language, "url": asgi_server}])
    page = phone.new_page()

    page.goto(f"{asgi_server}/")

    banner = page.locator("#storm-banner")
    expect(banner).to_be_visible()
    expect(banner.locator(".storm-message")).to_have_text(MESSAGES[language])
    assert page.get_attribute("html", "dir") == "rtl"
    offered = page.locator(".category:not(.paused)")
    expect(offered).to_have_count(12 - len(PAUSED_CATEGORIES))
    codes = offered.evaluate_all("els => els.map(e => e.dataset.code)")
    assert sorted(codes[:len(HAZARD_CATEGORIES)]) == sorted(HAZARD_CATEGORIES)
    assert not set(codes[len(HAZARD_CATEGORIES):]) & set(HAZARD_CATEGORIES)
    paused = page.locator(".category.paused")
    expect(paused).to_have_count(len(PAUSED_CATEGORIES))
    assert sorted(paused.evaluate_all("els => els.map(e => e.dataset.code)")) == sorted(
        PAUSED_CATEGORIES)
    expect(paused.first).to_be_disabled()
    screenshot(page, f"storm-citizen-{language}")


def test_without_storm_mode_the_citizen_page_has_no_banner(asgi_server, phone, offline, demo):
    page = phone.new_page()

    page.goto(f"{asgi_server}/")

    expect(page.locator(".category")).to_have_count(12)
    expect(page.locator("#storm-banner")).to_have_count(0)
    expect(page.locator(".category.paused")).to_have_count(0)


@pytest.mark.parametrize("language", ["ar", "fa"])
def test_the_console_shows_the_storm_panel(asgi_server, desk, offline, demo, language):
    storm_demo_start(hours=4)
    desk.add_cookies([{"name": "django_language", "value": language, "url": asgi_server}])
    page = desk.new_page()
    login(page, asgi_server, "dispatcher", "rasad-dispatcher")
    page.goto(f"{asgi_server}/console/")

    panel = page.locator("#storm-panel")

    expect(panel).to_be_visible()
    expect(panel.locator("#storm-incoming span")).to_have_count(12)
    expect(panel.locator("#storm-backlog tbody tr")).to_have_count(6)
    expect(panel.locator("#storm-plows li")).to_have_count(2)  # road-1 and plow-2 on shift
    expect(panel.locator("#storm-end")).to_have_count(0)  # dispatchers do not switch it
    assert page.get_attribute("html", "dir") == "rtl"

    # a snow report comes in; the panel's figures follow (the minute's refresh, run now)
    filed = httpx.post(f"{asgi_server}/api/v1/reports/", json={
        "category": "snow-ice", "lon": 24.9384, "lat": 60.1699}, timeout=10)
    assert filed.status_code == 201, filed.text
    page.evaluate("window.RasadStorm.refresh()")

    expect(panel.locator("#storm-incoming span").last).to_have_attribute("data-reports", "1")
    one = DIGIT_ONE[language]
    expect(panel.locator(f"#storm-backlog tbody td:text-is('{one}')")).to_have_count(2)
    screenshot(page, f"storm-console-{language}")


def test_a_manager_switches_storm_mode_on_from_the_console(asgi_server, desk, offline, demo):
    page = desk.new_page()
    login(page, asgi_server, "manager", "rasad-manager")
    page.goto(f"{asgi_server}/console/")
    page.click("#storm-panel > summary")
    form = page.locator("#storm-switch")
    form.locator("select[name=hazard]").select_option("snow_storm")
    form.locator("input[name=ends_at]").fill("2020-01-01T10:00")
    form.locator("input[name=categories][value=snow-ice]").check()
    form.locator("textarea[name=message_en]").fill("Snow storm")

    form.locator("button[type=submit]").click()

    expect(page.locator("#storm-error")).to_have_text("The end time is in the past.")
    assert EmergencyMode.objects.count() == 0

    form.locator("input[name=ends_at]").fill("2099-01-01T10:00")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()

    expect(page.locator("#storm-panel #storm-backlog")).to_be_visible()
    mode = EmergencyMode.objects.get()
    assert [c.code for c in mode.categories.all()] == ["snow-ice"]
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("#storm-end")
    expect(page.locator("#storm-switch")).to_have_count(1)
    mode.refresh_from_db()
    assert mode.cancelled_at is not None
