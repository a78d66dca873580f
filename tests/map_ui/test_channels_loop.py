"""The whole loop on messaging channels, as in the demo: a citizen talks to the bot on
WhatsApp and on Telegram (`manage.py channels_play`, against the real server), the report
appears on the dispatcher's live console, and resolving it answers on that channel. Real
server, real Celery worker, real browser; only the providers' APIs are the fake on
127.0.0.1."""

import io
import time

import httpx
import pytest
from django.core.management import call_command

from incidents.models import Conversation, InboxItem, Notification, Report
from tests.map_ui.conftest import pages_close_and_wait_quiet
from tests.map_ui.test_console import DISPATCHER, console_open, list_item, token

pytestmark = [pytest.mark.browser, pytest.mark.worker,
              pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _server_quiet(desk):
    yield
    pages_close_and_wait_quiet(desk)


@pytest.fixture
def demo():
    from fixtures.city import demo_city_load, demo_crews_load, demo_users_load

    area = demo_city_load()
    demo_users_load()
    demo_crews_load()
    return area


def _play(scenario: str, base: str, fake, **options) -> str:
    out = io.StringIO()
    call_command("channels_play", scenario, url=base, provider_url=fake.url, stdout=out,
                 **options)
    return out.getvalue()


def _resolve(base: str, incident_id: int) -> None:
    headers = token(base, *DISPATCHER)
    for status in ("verified", "assigned", "on_site", "resolved"):
        response = httpx.post(f"{base}/api/v1/incidents/{incident_id}/transition/",
                              json={"to": status}, headers=headers, timeout=10)
        assert response.status_code == 200, response.text


def _wait(predicate, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


@pytest.mark.parametrize(("scenario", "sender"), [("whatsapp", "358401112233"),
                                                  ("telegram", "777000123")])
def test_a_chat_files_a_report_that_appears_live_and_resolving_it_answers_there(
        asgi_server, desk, demo, fake_providers, server_worker, scenario, sender):
    page = console_open(desk, asgi_server)

    transcript = _play(scenario, asgi_server, fake_providers, sender=sender)

    report = Report.objects.get()
    assert (report.channel, report.category.code) == (scenario, "pothole")
    assert report.photos.count() == 1
    assert f"Tracking code: {report.tracking_code}" in transcript
    list_item(page, report.incident_id).wait_for(timeout=5000)
    fake_providers.clear()

    _resolve(asgi_server, report.incident_id)

    assert _wait(lambda: any("is now: resolved" in str(s["body"])
                             for s in fake_providers.sent_to(scenario)))
    # The provider has the message a moment before the worker records it as sent.
    assert _wait(lambda: Notification.objects.filter(update__to_status="resolved",
                                                     state="sent").exists())
    resolved = Notification.objects.get(update__to_status="resolved")
    assert (resolved.channel, resolved.state, resolved.recipient) == (scenario, "sent", sender)


def test_an_unplaceable_message_lands_in_the_inbox(asgi_server, demo, fake_providers,
                                                  server_worker):
    transcript = _play("inbox", asgi_server, fake_providers, sender="358405556677")

    item = InboxItem.objects.get()
    assert (item.reason, item.state, item.category.code) == ("no_location", "open", "garbage")
    assert "market" in item.text
    assert Conversation.objects.get().state == "inbox"
    assert "Our team will place your report on the map" in transcript
