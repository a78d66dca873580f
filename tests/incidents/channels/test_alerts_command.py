"""ALERTS on a messaging channel: the citizen subscribes, on the channel they reported on, to
the district of their last report; alerts then come back on that channel. STOP is
respected."""

import pytest

from fixtures import channel_payloads as p
from incidents.models import AlertSubscription, Notification
from incidents.services import ReportInput, report_submit
from incidents.services.alerts import alerts_queue_immediate, notifications_send_batch
from tests.incidents.channels.conftest import contact
from tests.incidents.channels.test_telegram import (
    CHAT,
    _filed_report,
    bot_messages,
    telegram_say,
)

pytestmark = pytest.mark.django_db


def test_alerts_subscribes_the_telegram_chat_to_the_district_of_its_report(
        client, channel_city, fake_providers):
    _filed_report(client, fake_providers)

    telegram_say(client, p.tg_text(CHAT, "ALERTS"))
    telegram_say(client, p.tg_text(CHAT, "alerts"))  # again: nothing new

    subscription = AlertSubscription.objects.get()
    assert (subscription.contact, subscription.scope, subscription.district.code,
            subscription.state) == (contact("telegram", str(CHAT)), "district", "west", "active")
    first, second = bot_messages(fake_providers)
    assert first["text"] == second["text"] == (
        "You will get alerts here for West: new problems, fixes and the city's notices. To "
        f"stop them or change them: http://127.0.0.1:8000/alerts/manage/{subscription.token}/")


def test_a_new_incident_in_the_district_comes_back_on_the_chat(client, channel_city,
                                                               fake_providers):
    _filed_report(client, fake_providers)
    telegram_say(client, p.tg_text(CHAT, "ALERTS"))
    fake_providers.clear()
    other = report_submit(data=ReportInput(category_code="street-light", lon=24.925,
                                           lat=60.175)).report

    alerts_queue_immediate()
    notifications_send_batch(dedupe_prefix="alert:")

    notification = Notification.objects.get(kind="alert")
    assert (notification.channel, notification.recipient, notification.state) == (
        "telegram", str(CHAT), "sent")
    (sent,) = bot_messages(fake_providers)
    assert other.tracking_code in sent["text"]


def test_after_stop_alerts_subscribes_nobody(client, channel_city, fake_providers):
    _filed_report(client, fake_providers)
    telegram_say(client, p.tg_text(CHAT, "STOP"))

    telegram_say(client, p.tg_text(CHAT, "ALERTS"))

    assert AlertSubscription.objects.count() == 0
