"""Telegram Bot API, and Bale through the same adapter: the webhook (secret token, dedupe on
update_id), a whole conversation to a filed report (inline keyboards, the location button,
a photo fetched with getFile), callback queries answered, Persian from language_code, and
status messages back, through the fake bot API."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from fixtures import channel_payloads as p
from incidents.models import (
    ChannelContact,
    Conversation,
    InboundMessage,
    InboxItem,
    Notification,
    Report,
    Status,
)
from incidents.services import incident_transition
from incidents.services.notify import notification_send
from tests.conftest import CENTRE, jpeg_bytes
from tests.incidents.channels.conftest import contact, process_all

pytestmark = pytest.mark.django_db
WEBHOOK = "/channels/telegram/webhook"
CHAT = 7770001
FILE_ID = "AgACAgIAAxkBAAIBXWVzAQADAgADeQADMwQ"


def post_telegram(client, update: dict, *, secret: str | None = None, path: str = WEBHOOK):
    body, headers = p.telegram_request(update, secret or settings.RASAD_TELEGRAM_SECRET_TOKEN)
    return client.post(path, data=body, content_type="application/json", headers={
        "X-Telegram-Bot-Api-Secret-Token": headers["X-Telegram-Bot-Api-Secret-Token"]})


def telegram_say(client, update: dict) -> None:
    """A citizen's update delivered and handled, as the webhook and the worker do it."""
    assert post_telegram(client, update).status_code == 200
    process_all()


def bot_messages(fake, provider: str = "telegram") -> list[dict]:
    """The bodies of sendMessage calls, in order."""
    return [s["body"] for s in fake.sent_to(provider) if s["method"] == "sendMessage"]


def bot_calls(fake, method: str, provider: str = "telegram") -> list[dict]:
    return [s["body"] for s in fake.sent_to(provider) if s["method"] == method]


def keyboard(body: dict) -> list[tuple[str, str]]:
    """An inline keyboard as (text, callback_data), one button per row."""
    return [(row[0]["text"], row[0]["callback_data"])
            for row in body["reply_markup"]["inline_keyboard"]]


# -- The webhook ---------------------------------------------------------------------------

@pytest.mark.parametrize("secret", ["", "someone-else", "test-telegram-secret-but-longer"])
def test_an_update_without_our_secret_token_is_refused_and_nothing_is_stored(
        client, channel_city, secret):
    body, _headers = p.telegram_request(p.tg_text(CHAT, "hello"), secret)

    response = client.post(WEBHOOK, data=body, content_type="application/json",
                           headers={"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {})

    assert response.status_code == 403
    assert response.json()["code"] == "signature_invalid"
    assert InboundMessage.objects.count() == 0
    assert ChannelContact.objects.count() == 0


def test_an_update_with_our_secret_token_is_stored(client, channel_city):
    update = p.tg_text(CHAT, "hello")

    response = post_telegram(client, update)

    assert response.status_code == 200
    stored = InboundMessage.objects.get()
    assert (stored.provider, stored.external_id, stored.kind, stored.text, stored.state) == (
        "telegram", str(update["update_id"]), "text", "hello", "pending")
    assert stored.payload == update["message"]
    citizen = contact("telegram", str(CHAT))
    assert (citizen.display_name, citizen.language_hint) == ("Test Citizen", "en")


@pytest.mark.parametrize("body", [
    b"{not json",
    b"[1, 2]",
    b'{"message": {"message_id": 1, "date": 1441645532, "text": "no update_id"}}',
    b'{"update_id": 10001, "message": {"message_id": 1, "date": 1441645532, "text": "no chat"}}',
    b'{"update_id": 10002, "message": {"message_id": 1, "date": "yesterday", '
    b'"chat": {"id": 1, "type": "private"}, "text": "bad date"}}',
])
def test_a_body_that_is_no_telegram_update_gets_400_and_nothing_is_stored(client, channel_city,
                                                                         body):
    response = client.post(WEBHOOK, data=body, content_type="application/json",
                           headers={"X-Telegram-Bot-Api-Secret-Token": "test-telegram-secret"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert InboundMessage.objects.count() == 0


def test_a_retried_update_is_stored_once(client, channel_city):
    update = p.tg_text(CHAT, "hello")

    first = post_telegram(client, update)
    second = post_telegram(client, update)

    assert (first.status_code, second.status_code) == (200, 200)
    assert InboundMessage.objects.get().external_id == str(update["update_id"])


def test_updates_that_are_no_messages_are_acknowledged_and_not_stored(client, channel_city):
    edited = {"update_id": 10003, "edited_message": p.tg_text(CHAT, "typo fixed")["message"]}

    response = post_telegram(client, edited)

    assert response.status_code == 200
    assert InboundMessage.objects.count() == 0


def test_the_largest_size_of_a_photo_is_the_one_kept(client, channel_city):
    post_telegram(client, p.tg_photo(CHAT, FILE_ID, caption="Pothole on Main St", size=104721))

    stored = InboundMessage.objects.get()
    assert (stored.kind, stored.provider_type, stored.text) == ("image", "photo",
                                                                "Pothole on Main St")
    assert stored.media == [{"ref": FILE_ID, "mime": "image/jpeg", "size": 104721}]


def test_a_shared_location_is_kept_as_a_point(client, channel_city):
    post_telegram(client, p.tg_location(CHAT, 35.699739, 51.338097))

    stored = InboundMessage.objects.get()
    assert (stored.kind, stored.lat, stored.lon) == ("location", 35.699739, 51.338097)


def test_a_button_press_is_kept_as_a_choice_answering_the_bots_message(client, channel_city):
    post_telegram(client, p.tg_callback(CHAT, "cat:pothole", message_id=2001))

    stored = InboundMessage.objects.get()
    assert (stored.kind, stored.provider_type, stored.choice, stored.reply_to) == (
        "choice", "callback_query", "cat:pothole", "2001")


# -- The conversation ----------------------------------------------------------------------

def _conversation_to_report(client, fake):
    """text → category (inline keyboard) → size (inline keyboard) → location (the reply
    keyboard's button) → photo (getFile) → confirm (inline keyboard)."""
    fake.media_put(jpeg_bytes(size=(80, 60)), media_id=FILE_ID)
    telegram_say(client, p.tg_text(CHAT, "There is a hole in the road by the tram stop"))
    telegram_say(client, p.tg_callback(CHAT, "cat:pothole", title="Pothole"))
    telegram_say(client, p.tg_callback(CHAT, "ans:large", title="Large"))
    telegram_say(client, p.tg_location(CHAT, CENTRE[1], CENTRE[0]))
    telegram_say(client, p.tg_photo(CHAT, FILE_ID, caption="Deep one"))
    telegram_say(client, p.tg_callback(CHAT, "confirm:yes", title="Send it"))


def test_a_conversation_files_a_report_with_its_photo_and_place(client, channel_city,
                                                                fake_providers):
    _conversation_to_report(client, fake_providers)

    report = Report.objects.get()
    assert (report.category.code, report.channel, report.language) == ("pothole", "telegram",
                                                                       "en")
    assert report.attributes == {"size": "large"}
    assert (round(report.location.x, 4), round(report.location.y, 4)) == CENTRE
    assert report.description == "There is a hole in the road by the tram stop\nDeep one"
    assert report.photos.count() == 1
    assert report.contact == contact("telegram", str(CHAT))
    assert (report.reporter_name, report.reporter_phone) == ("Test Citizen", "")
    assert Conversation.objects.get().state == "filed"
    assert not InboxItem.objects.exists()


def test_the_conversation_asks_with_keyboards_and_ends_with_the_tracking_code(
        client, channel_city, fake_providers):
    _conversation_to_report(client, fake_providers)

    sent = bot_messages(fake_providers)
    assert [s["chat_id"] for s in sent] == [CHAT] * 6
    assert sent[0]["text"].startswith("Hello! I am the reports assistant of Test City.")
    assert keyboard(sent[0]) == [("Pothole", "cat:pothole"),
                                 ("Street light out", "cat:street-light")]
    assert sent[1]["text"].startswith("How big is it?")
    assert keyboard(sent[1]) == [("Small", "ans:small"), ("Large", "ans:large")]
    assert sent[2]["text"].startswith("Where is it? Share the location")
    assert sent[2]["reply_markup"] == {
        "keyboard": [[{"text": "📍 Send location", "request_location": True}]],
        "resize_keyboard": True, "one_time_keyboard": True}
    assert sent[3]["text"] == "Can you send a photo of it? Send SKIP if not."
    assert keyboard(sent[3]) == [("No photo", "photo:skip")]
    assert "Problem: Pothole" in sent[4]["text"]
    assert "How big is it?: Large" in sent[4]["text"]
    assert keyboard(sent[4]) == [("Send it", "confirm:yes"), ("Start over", "confirm:no")]
    code = Report.objects.get().tracking_code
    assert f"Tracking code: {code}" in sent[5]["text"]
    assert sent[5]["reply_markup"] == {"remove_keyboard": True}


def test_the_photo_is_fetched_with_getfile_and_kept_cleaned(client, channel_city,
                                                            fake_providers):
    _conversation_to_report(client, fake_providers)

    assert bot_calls(fake_providers, "getFile") == [{"file_id": FILE_ID}]
    media = InboundMessage.objects.get(kind="image").files.get()
    assert (media.ref, media.state, media.is_photo, media.mime) == (FILE_ID, "ready", True,
                                                                   "image/jpeg")


def test_every_button_press_is_answered_with_answercallbackquery(client, channel_city,
                                                                 fake_providers):
    telegram_say(client, p.tg_text(CHAT, "Hole in the road"))
    press = p.tg_callback(CHAT, "cat:pothole", title="Pothole")

    telegram_say(client, press)

    assert bot_calls(fake_providers, "answerCallbackQuery") == [
        {"callback_query_id": press["callback_query"]["id"]}]
    assert InboundMessage.objects.get(kind="choice").state == "done"


def test_a_retried_button_press_changes_nothing(client, channel_city, fake_providers):
    telegram_say(client, p.tg_text(CHAT, "Hole in the road"))
    press = p.tg_callback(CHAT, "cat:pothole", title="Pothole")
    telegram_say(client, press)
    sent_before = len(fake_providers.sent)

    telegram_say(client, press)

    assert len(fake_providers.sent) == sent_before
    assert InboundMessage.objects.count() == 2
    assert Conversation.objects.get().state == "question"


def test_a_button_pressed_after_a_typed_message_is_handled_after_it(client, channel_city,
                                                                    fake_providers):
    # given: the category was asked a minute ago; the citizen types, then presses a button
    telegram_say(client, p.tg_text(CHAT, "Hole in the road"))
    asked_at = int((timezone.now() - timedelta(minutes=1)).timestamp())
    post_telegram(client, p.tg_text(CHAT, "It is deep"))
    post_telegram(client, p.tg_callback(CHAT, "cat:pothole", message_date=asked_at))

    # when
    process_all()

    # then: the text described the problem before the category moved on to its question
    conversation = Conversation.objects.get()
    assert conversation.data["description"] == "Hole in the road\nIt is deep"
    assert (conversation.state, conversation.data["category"]) == ("question", "pothole")


def test_a_conversation_resumed_an_hour_later_goes_on_where_it_stopped(client, channel_city,
                                                                       fake_providers):
    telegram_say(client, p.tg_text(CHAT, "Hole in the road"))
    telegram_say(client, p.tg_callback(CHAT, "cat:pothole"))
    Conversation.objects.update(last_activity_at=timezone.now() - timedelta(hours=1))

    telegram_say(client, p.tg_callback(CHAT, "ans:small"))

    conversation = Conversation.objects.get()
    assert conversation.state == "location"
    assert (conversation.data["category"], conversation.data["answers"]) == ("pothole",
                                                                            {"size": "small"})
    assert bot_messages(fake_providers)[-1]["text"].startswith("Where is it?")


def test_language_code_fa_makes_the_bot_speak_persian(client, channel_city, fake_providers):
    # «سلام» is written alike in Arabic and Persian: the client's language decides.
    telegram_say(client, p.tg_text(CHAT, "سلام", language="fa"))

    assert Conversation.objects.get().language == "fa"
    assert contact("telegram", str(CHAT)).language == "fa"
    (sent,) = bot_messages(fake_providers)
    # The bot's sentences may still be untranslated; the city and the categories are named
    # in Persian from the data.
    assert "شهر آزمایشی" in sent["text"]
    assert keyboard(sent) == [("چاله", "cat:pothole"), ("چراغ خیابان خاموش", "cat:street-light")]


def test_start_from_a_persian_client_opens_the_conversation_in_persian(client, channel_city,
                                                                       fake_providers):
    telegram_say(client, p.tg_text(CHAT, "/start", language="fa"))

    assert Conversation.objects.get().language == "fa"


def test_a_photo_telegram_no_longer_has_is_refused_with_the_reason(client, channel_city,
                                                                   fake_providers):
    telegram_say(client, p.tg_text(CHAT, "Hole in the road"))

    telegram_say(client, p.tg_photo(CHAT, "AgACAgIAAxkBAAIBgone"))

    media = InboundMessage.objects.get(kind="image").files.get()
    assert (media.state, media.error) == ("failed", "Bad Request: invalid file_id")
    assert bot_messages(fake_providers)[-1]["text"].startswith(
        "I could not receive your photo (Bad Request: invalid file_id).")


def test_a_voice_message_goes_to_the_inbox_with_a_polite_answer(client, channel_city,
                                                                 fake_providers):
    telegram_say(client, p.tg_voice(CHAT))

    message = InboundMessage.objects.get()
    assert (message.kind, message.provider_type, message.state) == ("unsupported", "voice",
                                                                    "done")
    assert message.inbox_item.reason == "unsupported"
    assert "I understand text, photos and locations" in bot_messages(fake_providers)[-1]["text"]


# -- Status messages and replies -----------------------------------------------------------

def _filed_report(client, fake_providers) -> Report:
    _conversation_to_report(client, fake_providers)
    fake_providers.clear()
    return Report.objects.get()


def _resolved(report: Report, dispatcher) -> Notification:
    incident = report.incident
    for status in (Status.VERIFIED, Status.ASSIGNED, Status.ON_SITE, Status.RESOLVED):
        incident = incident_transition(incident=incident, to=status, by=dispatcher)
    resolved = Notification.objects.get(update__to_status="resolved")
    notification_send(notification_id=resolved.pk)
    resolved.refresh_from_db()
    return resolved


def test_a_status_change_is_sent_as_a_bot_message(client, channel_city, fake_providers,
                                                  dispatcher):
    report = _filed_report(client, fake_providers)

    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
    notification = Notification.objects.get(kind="status")
    outcome = notification_send(notification_id=notification.pk)

    assert outcome == "sent"
    (sent,) = fake_providers.sent_to("telegram")
    assert (sent["to"], sent["body"]["reply_markup"]) == (CHAT, {"remove_keyboard": True})
    assert sent["body"]["text"].startswith(f"Your report {report.tracking_code} (Pothole) is "
                                           "now: verified.")
    notification.refresh_from_db()
    assert notification.provider_message_id == str(sent["id"])


def test_resolved_asks_fixed_or_still_broken_with_an_inline_keyboard(client, channel_city,
                                                                      fake_providers,
                                                                      dispatcher):
    report = _filed_report(client, fake_providers)

    _resolved(report, dispatcher)

    sent = bot_messages(fake_providers)[-1]
    assert sent["text"].startswith(f"Your report {report.tracking_code} (Pothole) is now: "
                                   "resolved.")
    assert keyboard(sent) == [("It is fixed", f"fixed:{report.tracking_code}"),
                              ("Still broken", f"broken:{report.tracking_code}")]


def test_it_is_fixed_closes_the_incident(client, channel_city, fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)
    resolved = _resolved(report, dispatcher)

    telegram_say(client, p.tg_callback(CHAT, f"fixed:{report.tracking_code}",
                                       message_id=int(resolved.provider_message_id)))

    incident = report.incident
    incident.refresh_from_db()
    assert incident.status == "closed"
    assert incident.updates.get(to_status="closed").note == (
        f"The reporter confirmed the fix ({report.tracking_code}).")
    assert bot_messages(fake_providers)[-1]["text"] == (
        f"Thank you for confirming that the problem of report {report.tracking_code} is fixed.")


def test_still_broken_reopens_the_report(client, channel_city, fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)
    resolved = _resolved(report, dispatcher)

    telegram_say(client, p.tg_callback(CHAT, f"broken:{report.tracking_code}",
                                       message_id=int(resolved.provider_message_id)))

    incident = report.incident
    incident.refresh_from_db()
    assert incident.status == "reopened"
    assert incident.updates.get(to_status="reopened").note == (
        "Reopened by the reporter: Still broken, says the reporter (Telegram).")
    assert bot_messages(fake_providers)[-1]["text"] == (
        f"We have reopened your report {report.tracking_code} and told the team.")


def test_a_reply_to_a_status_message_becomes_a_public_update(client, channel_city,
                                                             fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
    notification = Notification.objects.get(kind="status")
    notification_send(notification_id=notification.pk)
    notification.refresh_from_db()

    telegram_say(client, p.tg_text(CHAT, "It got bigger since yesterday",
                                   reply_to=int(notification.provider_message_id)))

    note = report.incident.updates.exclude(note="").order_by("-pk").first()
    assert (note.note, note.public, note.by) == (
        "The reporter added (Telegram): It got bigger since yesterday", True, None)
    assert InboundMessage.objects.get(text="It got bigger since yesterday").report == report
    assert bot_messages(fake_providers)[-1]["text"].startswith(
        f"Thank you, we added this to your report {report.tracking_code}.")
    assert Conversation.objects.filter(closed_at__isnull=True).count() == 0


def test_stop_unsubscribes_and_no_status_message_is_written(client, channel_city,
                                                            fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)

    telegram_say(client, p.tg_text(CHAT, "STOP"))
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)

    assert contact("telegram", str(CHAT)).opted_out_at is not None
    assert not Notification.objects.filter(kind="status").exists()
    (sent,) = bot_messages(fake_providers)
    assert sent["text"] == ("You will get no more messages from us here. Send START to get "
                            "them again.")


# -- Bale: the same adapter on another address ---------------------------------------------

def test_bale_accepts_the_secret_in_the_webhook_path(client, channel_city):
    body, _headers = p.telegram_request(p.tg_text(CHAT, "سلام"), "")

    response = client.post("/channels/bale/webhook/test-bale-secret", data=body,
                           content_type="application/json")

    assert response.status_code == 200
    stored = InboundMessage.objects.get()
    assert (stored.provider, stored.contact.provider, stored.contact.external_id) == (
        "bale", "bale", str(CHAT))


def test_bale_accepts_the_secret_in_the_header(client, channel_city):
    response = post_telegram(client, p.tg_text(CHAT, "سلام"), secret="test-bale-secret",
                             path="/channels/bale/webhook")

    assert response.status_code == 200
    assert InboundMessage.objects.get().provider == "bale"


@pytest.mark.parametrize("path", ["/channels/bale/webhook/guess",
                                  "/channels/bale/webhook/test-telegram-secret",
                                  "/channels/bale/webhook"])
def test_bale_without_its_secret_is_refused_and_nothing_is_stored(client, channel_city, path):
    response = post_telegram(client, p.tg_text(CHAT, "سلام"), secret="test-telegram-secret",
                             path=path)

    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0


def test_telegrams_secret_in_the_path_opens_no_telegram_webhook(client, channel_city):
    body, _headers = p.telegram_request(p.tg_text(CHAT, "hello"), "")

    response = client.post("/channels/telegram/webhook/test-telegram-secret", data=body,
                           content_type="application/json")

    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0


def test_bale_answers_through_bales_bot_api_and_fetches_photos_there(client, channel_city,
                                                                     fake_providers):
    fake_providers.media_put(jpeg_bytes(), media_id=FILE_ID)
    path = "/channels/bale/webhook/test-bale-secret"
    body, _headers = p.telegram_request(p.tg_photo(CHAT, FILE_ID, caption="Hole in the road"),
                                        "")

    assert client.post(path, data=body, content_type="application/json").status_code == 200
    process_all()

    assert fake_providers.sent_to("telegram") == []
    assert bot_calls(fake_providers, "getFile", provider="bale") == [{"file_id": FILE_ID}]
    (sent,) = bot_messages(fake_providers, provider="bale")
    assert sent["chat_id"] == CHAT
    assert keyboard(sent) == [("Pothole", "cat:pothole"), ("Street light out",
                                                           "cat:street-light")]
    assert InboundMessage.objects.get().files.get().state == "ready"
