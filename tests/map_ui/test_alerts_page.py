"""The alerts page of a district in a real browser on a phone, in Arabic and in Persian: the
notice banner in the reader's language, right to left; subscribing by tapping the map (a
point and its radius) or to the district; a refusal that says why and stores nothing; the
manage link unsubscribes once."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from fixtures.city import demo_city_load, demo_users_load
from incidents.models import AlertSubscription
from incidents.services.alerts import NoticeInput, notice_publish
from tests.map_ui.conftest import PHONE, pages_close_and_wait_quiet, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def notice(celery_queue):
    demo_city_load()
    demo_users_load()
    now = timezone.now()
    return notice_publish(data=NoticeInput(
        kind="water_cut", starts_at=now, ends_at=now + timedelta(days=1),
        titles={"en": "Water cut", "ar": "انقطاع المياه", "fa": "قطع آب"},
        bodies={"en": "From 8 to 12", "ar": "من ٨ إلى ١٢", "fa": "از ۸ تا ۱۲"},
        district_codes=("kamppi",)), by=get_user_model().objects.get(username="manager"))


@pytest.fixture
def phone_in(browser):
    contexts = []

    def _open(locale: str):
        context = browser.new_context(**PHONE, locale=locale)
        context.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
        contexts.append(context)
        return context.new_page()

    yield _open
    pages_close_and_wait_quiet(*contexts)
    for context in contexts:
        context.close()


def test_in_arabic_the_banner_reads_right_to_left_and_a_tap_on_the_map_subscribes(
        asgi_server, phone_in, notice, celery_queue):
    page = phone_in("ar")

    response = page.goto(f"{asgi_server}/alerts/district/kamppi/")

    assert response.status == 200
    assert page.get_attribute("html", "dir") == "rtl"
    banner = page.locator(f'.notice-banner[data-notice="{notice.pk}"]')
    expect(banner.locator(".notice-title")).to_have_text("انقطاع المياه")
    expect(banner.locator(".notice-body")).to_have_text("من ٨ إلى ١٢")
    screenshot(page, "citizen-alerts-ar")

    page.locator(".folium-map").click()  # the middle of the map, inside the city
    expect(page.locator('input[name="scope"][value="area"]')).to_be_checked()
    page.fill("#alerts-radius", "400")
    page.fill("#alerts-email", "reader@example.org")
    with page.expect_navigation() as sent:
        page.click("#alerts-send")

    assert sent.value.status == 200
    expect(page.locator("#alerts-done")).to_be_visible()
    screenshot(page, "citizen-alerts-done-ar")
    subscription = AlertSubscription.objects.get()
    assert (subscription.scope, subscription.language, subscription.state,
            subscription.contact.external_id) == ("area", "ar", "pending", "reader@example.org")
    assert subscription.area.contains(subscription.area.centroid)


def test_in_persian_a_refusal_says_why_then_the_district_subscription_is_managed(
        asgi_server, phone_in, notice, celery_queue):
    page = phone_in("fa")
    page.goto(f"{asgi_server}/alerts/district/kamppi/")
    expect(page.locator(".notice-title")).to_have_text("قطع آب")
    assert page.get_attribute("html", "dir") == "rtl"
    expect(page.locator('input[name="scope"][value="district"]')).to_be_checked()

    with page.expect_navigation() as refused:
        page.click("#alerts-send")  # no email, no tracking code

    assert refused.value.status == 400
    expect(page.locator("#alerts-error")).to_be_visible()
    assert AlertSubscription.objects.count() == 0
    screenshot(page, "citizen-alerts-error-fa")

    page.fill("#alerts-email", "reader@example.org")
    with page.expect_navigation():
        page.click("#alerts-send")
    subscription = AlertSubscription.objects.get()
    assert (subscription.scope, subscription.district.code, subscription.language) == (
        "district", "kamppi", "fa")

    page.goto(f"{asgi_server}/alerts/confirm/{subscription.token}/")
    with page.expect_navigation():
        page.click("#alert-confirm")
    subscription.refresh_from_db()
    assert subscription.state == "active"
    page.goto(f"{asgi_server}/alerts/manage/{subscription.token}/")
    with page.expect_navigation() as gone:
        page.click("#alert-unsubscribe")
    assert gone.value.status == 200
    screenshot(page, "citizen-alerts-unsubscribed-fa")
    again = page.goto(f"{asgi_server}/alerts/manage/{subscription.token}/")
    assert again.status == 200
    expect(page.locator("#alert-unsubscribe")).to_have_count(0)
    subscription.refresh_from_db()
    assert subscription.state == "unsubscribed"


def test_the_citizen_map_shows_the_notice_of_the_district_it_shows(asgi_server, phone_in,
                                                                    notice, celery_queue):
    from incidents.selectors_alerts import district_get_at
    from map_ui.views import _area_centre

    shown = district_get_at(*_area_centre())  # where the map opens: Kluuvi
    assert shown.code == "kluuvi"
    now = timezone.now()
    here = notice_publish(data=NoticeInput(
        kind="road_closure", starts_at=now, ends_at=now + timedelta(hours=5),
        titles={"fa": "خیابان بسته است"}, bodies={"fa": "تا ظهر"},
        district_codes=(shown.code,)), by=get_user_model().objects.get(username="manager"))
    page = phone_in("fa")

    page.goto(f"{asgi_server}/")

    banner = page.locator(f'#notice-banners .notice-banner[data-notice="{here.pk}"]')
    expect(banner.locator(".notice-title")).to_have_text("خیابان بسته است")
    expect(banner.locator(".notice-more")).to_have_attribute(
        "href", f"/alerts/district/{shown.code}/")
    expect(page.locator(f'[data-notice="{notice.pk}"]')).to_have_count(0)  # Kamppi's
    screenshot(page, "citizen-map-notice-fa")
    banner.locator(".notice-close").click()
    expect(page.locator("#notice-banners .notice-banner")).to_have_count(0)
