"""Storm mode in the chatbot (Telegram here; every provider runs the same dialogue): the
storm's message before the category question, the hazard's categories first, paused ones
not offered, and a report of a paused category refused with the reason."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crews.services.storm import emergency_mode_start
from fixtures import channel_payloads as p
from incidents.models import Conversation, Report
from tests.conftest import CENTRE, jpeg_bytes
from tests.incidents.channels.test_telegram import (
    CHAT,
    FILE_ID,
    bot_messages,
    keyboard,
    telegram_say,
)

pytestmark = pytest.mark.django_db


def _storm(city, *, hazard: list[str], paused: list[str]):
    return emergency_mode_start(
        area=city, hazard="snow_storm", ends_at=timezone.now() + timedelta(hours=3),
        category_codes=hazard, paused_codes=paused,
        messages={"en": "Snow storm: report dark street lights first."},
        pause_messages={"en": "Potholes wait until the snow is gone."})


def test_the_bot_says_the_storm_message_and_offers_the_hazards_categories_first(
        client, channel_city, fake_providers):
    _storm(channel_city, hazard=["street-light"], paused=[])

    telegram_say(client, p.tg_text(CHAT, "Something is wrong on my street"))

    first = bot_messages(fake_providers)[0]
    assert "Snow storm: report dark street lights first." in first["text"]
    assert keyboard(first) == [("Street light out", "cat:street-light"), ("Pothole", "cat:pothole")]


def test_a_paused_category_is_not_offered(client, channel_city, fake_providers):
    _storm(channel_city, hazard=["street-light"], paused=["pothole"])

    telegram_say(client, p.tg_text(CHAT, "Something is wrong on my street"))

    assert keyboard(bot_messages(fake_providers)[0]) == [("Street light out", "cat:street-light")]


def test_a_report_paused_during_the_conversation_is_refused_with_the_reason(
        client, channel_city, fake_providers):
    fake_providers.media_put(jpeg_bytes(size=(80, 60)), media_id=FILE_ID)
    telegram_say(client, p.tg_text(CHAT, "There is a hole in the road by the tram stop"))
    telegram_say(client, p.tg_callback(CHAT, "cat:pothole", title="Pothole"))
    telegram_say(client, p.tg_callback(CHAT, "ans:large", title="Large"))
    telegram_say(client, p.tg_location(CHAT, CENTRE[1], CENTRE[0]))
    telegram_say(client, p.tg_photo(CHAT, FILE_ID, caption="Deep one"))
    _storm(channel_city, hazard=["street-light"], paused=["pothole"])

    telegram_say(client, p.tg_callback(CHAT, "confirm:yes", title="Send it"))

    last = bot_messages(fake_providers)[-1]
    assert "New reports of “Pothole” are paused during the snow storm" in last["text"]
    assert "Potholes wait until the snow is gone." in last["text"]
    assert keyboard(last) == [("Street light out", "cat:street-light")]
    assert Report.objects.count() == 0
    assert Conversation.objects.get().state == "category"
