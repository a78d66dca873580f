"""The satisfaction survey a reporter's link opens, in a real browser on a phone, with no
account: answered in English (fixed, a rating, a comment) and refused a second time; in
Arabic, right to left with Arabic digits, "not fixed" reopens the report; a closed survey
says so in the reader's language."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from fixtures.city import demo_city_load, demo_users_load
from incidents.models import Incident, Status, Survey
from incidents.services import ReportInput, incident_transition, report_submit
from incidents.services.survey import surveys_send_due
from tests.map_ui.conftest import pages_close_and_wait_quiet, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Kamppi, inside the demo city.
PLACE = (24.9384, 60.1699)


@pytest.fixture
def demo():
    demo_city_load()
    demo_users_load()


@pytest.fixture
def local_only(phone):
    """No internet in tests: anything not on 127.0.0.1 fails at once."""
    phone.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    yield phone
    pages_close_and_wait_quiet(phone)


def survey_sent(language: str) -> Survey:
    """A report by a citizen with an email address, resolved, and its survey sent."""
    report = report_submit(data=ReportInput(
        category_code="pothole", lon=PLACE[0], lat=PLACE[1], attributes={"size": "small"},
        reporter_email="citizen@example.org", language=language)).report
    dispatcher = get_user_model().objects.get(username="dispatcher")
    incident = report.incident
    for to in (Status.VERIFIED, Status.ASSIGNED, Status.ON_SITE, Status.RESOLVED):
        incident = incident_transition(incident=incident, to=to, by=dispatcher)
    Survey.objects.filter(report=report).update(due_at=timezone.now() - timedelta(minutes=1))
    surveys_send_due()
    return Survey.objects.get(report=report)


def test_a_reporter_answers_the_survey_in_english_and_cannot_answer_twice(
        asgi_server, local_only, demo, celery_queue):
    survey = survey_sent("en")
    code = survey.report.tracking_code
    page = local_only.new_page()

    response = page.goto(f"{asgi_server}/survey/{survey.token}/")

    assert response.status == 200
    expect(page.locator(".survey-title")).to_have_text("How did we do?")
    expect(page.locator(".tracking-code")).to_have_text(code)
    expect(page.locator("#fixed-question")).to_have_text(
        f"The city marked your report {code} (Pothole) as fixed. Is the problem really fixed?")
    expect(page.locator(".survey-ratings .choice")).to_have_count(5)
    screenshot(page, "citizen-survey")
    with page.expect_navigation() as refused:
        page.click("#survey-send")
    assert refused.value.status == 400
    expect(page.locator('[data-error-for="fixed"]')).to_have_text(
        "Tell us whether the problem is fixed.")
    screenshot(page, "citizen-survey-error")

    page.get_by_label("Yes, it is fixed").check()
    page.check("input[name=rating][value='4']")
    page.fill("#comment", "<b>Quick</b> work, thank you")
    with page.expect_navigation() as sent:
        page.click("#survey-send")

    assert sent.value.status == 200
    expect(page.locator(".survey-done h1")).to_have_text("Thank you!")
    expect(page.locator("#survey-outcome")).to_have_text("Thank you! We are glad it is fixed.")
    screenshot(page, "citizen-survey-done")
    survey.refresh_from_db()
    assert (survey.state, survey.fixed, survey.rating, survey.comment) == (
        "answered", True, 4, "<b>Quick</b> work, thank you")
    assert Incident.objects.get(pk=survey.report.incident_id).status == Status.CLOSED

    again = page.goto(f"{asgi_server}/survey/{survey.token}/")

    assert again.status == 409
    expect(page.locator(".survey-problem h1")).to_have_text("You have already answered")
    expect(page.locator("#survey-problem")).to_have_text(
        "You have already answered this survey. Thank you!")
    screenshot(page, "citizen-survey-409")


def test_in_arabic_the_survey_reads_right_to_left_and_not_fixed_reopens_the_report(
        asgi_server, local_only, demo, celery_queue):
    survey = survey_sent("ar")
    page = local_only.new_page()

    response = page.goto(f"{asgi_server}/survey/{survey.token}/")

    assert response.status == 200
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.get_attribute("html", "lang") == "ar"
    expect(page.locator(".track-category")).to_have_text("حفرة في الطريق")
    expect(page.locator(".survey-number").first).to_have_text("١")
    expect(page.locator(".survey-number").last).to_have_text("٥")
    yes, no = page.locator(".survey-fixed .choice").all()
    assert yes.bounding_box()["x"] > no.bounding_box()["x"]  # the first choice on the right
    screenshot(page, "citizen-survey-ar")

    page.check("input[name=fixed][value=no]")
    page.check("input[name=rating][value='2']")
    with page.expect_navigation() as sent:
        page.click("#survey-send")

    assert sent.value.status == 200
    expect(page.locator(".survey-done")).to_have_attribute("data-outcome", "reopened")
    assert page.get_attribute("html", "dir") == "rtl"
    screenshot(page, "citizen-survey-done-ar")
    survey.refresh_from_db()
    assert (survey.state, survey.fixed, survey.rating) == ("answered", False, 2)
    assert Incident.objects.get(pk=survey.report.incident_id).status == Status.REOPENED


def test_a_closed_survey_says_so_with_410(asgi_server, local_only, demo, celery_queue):
    survey = survey_sent("ar")
    Survey.objects.filter(pk=survey.pk).update(expires_at=timezone.now())
    page = local_only.new_page()

    response = page.goto(f"{asgi_server}/survey/{survey.token}/")

    assert response.status == 410
    assert page.get_attribute("html", "dir") == "rtl"
    expect(page.locator(".survey-problem")).to_have_attribute("data-code", "expired")
    expect(page.locator("#survey-form")).to_have_count(0)
    screenshot(page, "citizen-survey-410-ar")
    assert Survey.objects.get(pk=survey.pk).state == "sent"
