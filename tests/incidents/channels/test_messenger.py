"""Facebook Messenger: the Page webhook (handshake, X-Hub-Signature-256, dedupe on mid), a
conversation with quick replies and a typed street (Messenger has no location button), an
image fetched from its URL, status messages inside and outside the 24-hour window, and
comments on the Page's posts, answered by an agent with a private reply."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from fixtures import channel_payloads as p
from incidents.channels.inbox import inbox_item_close
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
from tests.conftest import jpeg_bytes
from tests.incidents.channels.conftest import contact, process_all

pytestmark = pytest.mark.django_db
WEBHOOK = "/channels/messenger/webhook"
PSID = "1254477777772919"


def post_messenger(client, payload: dict, *, secret: str | None = None):
    body, headers = p.signed_json(payload, secret or settings.RASAD_MESSENGER_APP_SECRET)
    return client.post(WEBHOOK, data=body, content_type="application/json",
                       headers={"X-Hub-Signature-256": headers["X-Hub-Signature-256"]})


def messenger_say(client, payload: dict) -> None:
    """A citizen's message delivered and handled, as the webhook and the worker do it."""
    assert post_messenger(client, payload).status_code == 200
    process_all()


def page_messages(fake) -> list[dict]:
    """The Send API bodies, in order."""
    return [s["body"] for s in fake.sent_to("messenger")]


def quick_replies(body: dict) -> list[tuple[str, str]]:
    return [(q["title"], q["payload"]) for q in body["message"]["quick_replies"]]


# -- The webhook ---------------------------------------------------------------------------

def test_handshake_echoes_the_challenge_when_the_token_matches(client):
    response = client.get(WEBHOOK, {"hub.mode": "subscribe", "hub.verify_token":
                                    "test-verify-token", "hub.challenge": "1158201444"})

    assert (response.status_code, response.content) == (200, b"1158201444")


@pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64,
                                       p.meta_signature("test-whatsapp-secret", b"x")])
def test_an_event_without_our_signature_is_refused_and_nothing_is_stored(client, channel_city,
                                                                         signature):
    body, _headers = p.signed_json(p.fb_text(PSID, "hello"), "test-messenger-secret")

    response = client.post(WEBHOOK, data=body, content_type="application/json",
                           headers={"X-Hub-Signature-256": signature} if signature else {})

    assert response.status_code == 403
    assert response.json()["code"] == "signature_invalid"
    assert InboundMessage.objects.count() == 0
    assert ChannelContact.objects.count() == 0


def test_an_event_signed_with_the_whatsapp_secret_is_refused(client, channel_city):
    response = post_messenger(client, p.fb_text(PSID, "hello"), secret="test-whatsapp-secret")

    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0


@pytest.mark.parametrize("payload", [
    b"{not json",
    b'{"object": "whatsapp_business_account", "entry": []}',
    b'{"object": "page", "entry": [{"id": "1", "messaging": [{"recipient": {"id": "1"}, '
    b'"timestamp": 1458692752478, "message": {"mid": "m_1", "text": "no sender"}}]}]}',
    b'{"object": "page", "entry": [{"id": "1", "messaging": [{"sender": {"id": "2"}, '
    b'"timestamp": "soon", "message": {"mid": "m_1", "text": "bad time"}}]}]}',
])
def test_a_signed_body_that_is_no_page_event_gets_400_and_nothing_is_stored(client,
                                                                            channel_city,
                                                                            payload):
    response = client.post(WEBHOOK, data=payload, content_type="application/json", headers={
        "X-Hub-Signature-256": p.meta_signature("test-messenger-secret", payload)})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert InboundMessage.objects.count() == 0


def test_a_retried_message_is_stored_once(client, channel_city):
    payload = p.fb_text(PSID, "hello")

    first = post_messenger(client, payload)
    second = post_messenger(client, payload)

    assert (first.status_code, second.status_code) == (200, 200)
    stored = InboundMessage.objects.get()
    mid = payload["entry"][0]["messaging"][0]["message"]["mid"]
    assert (stored.external_id, stored.kind, stored.text, stored.state) == (mid, "text",
                                                                            "hello", "pending")
    assert stored.payload == payload["entry"][0]["messaging"][0]
    assert contact("messenger", PSID).last_inbound_at == stored.sent_at


def test_echoes_of_our_own_messages_and_read_receipts_are_not_stored(client, channel_city):
    echo = p.messenger_event(PSID, {"message": {"mid": p.mid(), "text": "Hello!",
                                                "is_echo": True, "app_id": 1517776481860111}})
    read = p.messenger_event(PSID, {"read": {"watermark": 1458668856253}})

    responses = [post_messenger(client, echo), post_messenger(client, read)]

    assert [r.status_code for r in responses] == [200, 200]
    assert InboundMessage.objects.count() == 0


def test_a_quick_reply_is_kept_as_a_choice(client, channel_city):
    post_messenger(client, p.fb_quick_reply(PSID, "cat:pothole", "Pothole"))

    stored = InboundMessage.objects.get()
    assert (stored.kind, stored.provider_type, stored.choice, stored.text) == (
        "choice", "quick_reply", "cat:pothole", "Pothole")


def test_a_location_attachment_is_still_read_when_a_client_sends_one(client, channel_city):
    post_messenger(client, p.fb_location(PSID, 60.17, 24.93))

    stored = InboundMessage.objects.get()
    assert (stored.kind, stored.lat, stored.lon) == ("location", 60.17, 24.93)


# -- The conversation ----------------------------------------------------------------------

def _conversation_to_report(client, fake):
    """text → category (quick reply) → size (quick reply) → a typed street → the place
    (quick reply) → an image → confirm (quick reply)."""
    media_id = fake.media_put(jpeg_bytes(size=(80, 60)))
    messenger_say(client, p.fb_text(PSID, "There is a hole in the road"))
    messenger_say(client, p.fb_quick_reply(PSID, "cat:pothole", "Pothole"))
    messenger_say(client, p.fb_quick_reply(PSID, "ans:large", "Large"))
    messenger_say(client, p.fb_text(PSID, "Palm Street"))
    messenger_say(client, p.fb_quick_reply(PSID, "place:0", "Palm Street (East)"))
    messenger_say(client, p.fb_image(PSID, f"{fake.url}/cdn/{media_id}"))
    messenger_say(client, p.fb_quick_reply(PSID, "confirm:yes", "Send it"))


def test_a_conversation_files_a_report_at_the_typed_street_with_its_image(client,
                                                                          channel_city,
                                                                          streets,
                                                                          fake_providers):
    _conversation_to_report(client, fake_providers)

    report = Report.objects.get()
    assert (report.category.code, report.channel, report.language) == ("pothole", "messenger",
                                                                       "en")
    assert report.attributes == {"size": "large"}
    assert (round(report.location.x, 4), round(report.location.y, 4)) == (24.95, 60.172)
    assert report.address == "Palm Street (East)"
    assert report.description == "There is a hole in the road"
    assert report.photos.count() == 1
    assert report.contact == contact("messenger", PSID)
    assert Conversation.objects.get().state == "filed"
    assert not InboxItem.objects.exists()


def test_the_conversation_asks_with_quick_replies_and_ends_with_the_tracking_code(
        client, channel_city, streets, fake_providers):
    _conversation_to_report(client, fake_providers)

    sent = page_messages(fake_providers)
    assert [(s["recipient"], s["messaging_type"]) for s in sent] == [({"id": PSID},
                                                                      "RESPONSE")] * 7
    assert sent[0]["message"]["text"].startswith("Hello! I am the reports assistant of "
                                                 "Test City.")
    assert quick_replies(sent[0]) == [("Pothole", "cat:pothole"),
                                      ("Street light out", "cat:street-light")]
    assert quick_replies(sent[1]) == [("Small", "ans:small"), ("Large", "ans:large")]
    assert quick_replies(sent[3]) == [("Palm Street (East)", "place:0"),
                                      ("None of these", "place:none")]
    assert quick_replies(sent[4]) == [("No photo", "photo:skip")]
    assert "Place: Palm Street (East)" in sent[5]["message"]["text"]
    assert quick_replies(sent[5]) == [("Send it", "confirm:yes"), ("Start over", "confirm:no")]
    code = Report.objects.get().tracking_code
    assert f"Tracking code: {code}" in sent[6]["message"]["text"]
    assert "quick_replies" not in sent[6]["message"]


def test_the_location_question_offers_no_location_button(client, channel_city,
                                                         fake_providers):
    messenger_say(client, p.fb_text(PSID, "There is a hole in the road"))
    messenger_say(client, p.fb_quick_reply(PSID, "cat:pothole", "Pothole"))

    messenger_say(client, p.fb_quick_reply(PSID, "ans:large", "Large"))

    asked = page_messages(fake_providers)[-1]
    assert asked["message"] == {"text": "Where is it? Type the street name, a landmark or a "
                                        "map link. Send SKIP if you cannot."}
    assert Conversation.objects.get().state == "location"


def test_the_image_is_fetched_from_its_url_and_kept_cleaned(client, channel_city,
                                                            fake_providers):
    media_id = fake_providers.media_put(jpeg_bytes())
    url = f"{fake_providers.url}/cdn/{media_id}"

    messenger_say(client, p.fb_image(PSID, url))

    message = InboundMessage.objects.get()
    assert (message.kind, message.provider_type) == ("image", "image")
    media = message.files.get()
    assert (media.ref, media.state, media.is_photo, media.mime) == (url, "ready", True,
                                                                   "image/jpeg")


def test_a_conversation_resumed_an_hour_later_goes_on_where_it_stopped(client, channel_city,
                                                                       fake_providers):
    messenger_say(client, p.fb_text(PSID, "Hole in the road"))
    messenger_say(client, p.fb_quick_reply(PSID, "cat:pothole", "Pothole"))
    Conversation.objects.update(last_activity_at=timezone.now() - timedelta(hours=1))

    messenger_say(client, p.fb_quick_reply(PSID, "ans:small", "Small"))

    conversation = Conversation.objects.get()
    assert conversation.state == "location"
    assert (conversation.data["category"], conversation.data["answers"]) == ("pothole",
                                                                            {"size": "small"})


# -- Status messages and replies -----------------------------------------------------------

def _filed_report(client, fake_providers) -> Report:
    _conversation_to_report(client, fake_providers)
    fake_providers.clear()
    return Report.objects.get()


def _status_sent(report: Report, dispatcher) -> Notification:
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
    notification = Notification.objects.get(kind="status")
    notification_send(notification_id=notification.pk)
    notification.refresh_from_db()
    return notification


def test_a_status_change_within_24_hours_is_a_response(client, channel_city, streets,
                                                       fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)

    notification = _status_sent(report, dispatcher)

    (sent,) = fake_providers.sent_to("messenger")
    assert (sent["body"]["recipient"], sent["body"]["messaging_type"]) == ({"id": PSID},
                                                                           "RESPONSE")
    assert sent["body"]["message"]["text"].startswith(
        f"Your report {report.tracking_code} (Pothole) is now: verified.")
    assert (notification.state, notification.provider_message_id) == ("sent", sent["id"])


def test_a_status_change_after_24_hours_goes_with_a_message_tag(client, channel_city, streets,
                                                                fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)
    ChannelContact.objects.filter(pk=report.contact_id).update(
        last_inbound_at=timezone.now() - timedelta(hours=25))

    notification = _status_sent(report, dispatcher)

    (sent,) = fake_providers.sent_to("messenger")
    assert sent["body"] == {"recipient": {"id": PSID},
                            "message": {"text": notification.body},
                            "messaging_type": "MESSAGE_TAG", "tag": "ACCOUNT_UPDATE"}
    assert notification.state == "sent"


def test_an_answer_still_unsent_when_the_window_closes_is_given_up(client, channel_city,
                                                                   fake_providers):
    # given: the Send API was down when the answer was due, and a day went by
    fake_providers.fail_next["messenger"] = 1
    messenger_say(client, p.fb_text(PSID, "Hole in the road"))
    notification = Notification.objects.get(kind="dialogue")
    assert notification.state == "pending"
    ChannelContact.objects.filter(provider="messenger").update(
        last_inbound_at=timezone.now() - timedelta(hours=25))

    # when
    outcome = notification_send(notification_id=notification.pk)

    # then
    assert outcome == "failed"
    assert fake_providers.sent_to("messenger") == []
    notification.refresh_from_db()
    assert notification.last_error.startswith("More than 24 hours since the citizen's last "
                                              "message")


def test_a_reply_to_a_status_message_becomes_a_public_update(client, channel_city, streets,
                                                             fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)
    notification = _status_sent(report, dispatcher)

    messenger_say(client, p.fb_text(PSID, "It got bigger since yesterday",
                                    reply_to=notification.provider_message_id))

    note = report.incident.updates.exclude(note="").order_by("-pk").first()
    assert (note.note, note.public, note.by) == (
        "The reporter added (Facebook Messenger): It got bigger since yesterday", True, None)
    assert page_messages(fake_providers)[-1]["message"]["text"].startswith(
        f"Thank you, we added this to your report {report.tracking_code}.")


def test_stop_unsubscribes_and_no_status_message_is_written(client, channel_city, streets,
                                                            fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)

    messenger_say(client, p.fb_text(PSID, "STOP"))
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)

    assert contact("messenger", PSID).opted_out_at is not None
    assert not Notification.objects.filter(kind="status").exists()
    (sent,) = page_messages(fake_providers)
    assert sent["message"]["text"] == ("You will get no more messages from us here. Send "
                                       "START to get them again.")


# -- Comments on the Page's posts ----------------------------------------------------------

def test_a_comment_on_a_post_lands_in_the_inbox(client, channel_city, fake_providers):
    payload = p.fb_comment("6070001", "There is a broken street light here")

    messenger_say(client, payload)

    value = payload["entry"][0]["changes"][0]["value"]
    message = InboundMessage.objects.get()
    assert (message.kind, message.external_id, message.text) == (
        "comment", f"comment:{value['comment_id']}", "There is a broken street light here")
    item = InboxItem.objects.get()
    assert (item.reason, item.state, item.text) == ("comment", "open",
                                                    "There is a broken street light here")
    assert (item.contact.external_id, item.contact.display_name) == ("comment:6070001",
                                                                     "Jane Doe")
    assert message.inbox_item == item
    assert fake_providers.sent_to("messenger") == []


def test_an_agents_answer_to_a_comment_goes_as_a_private_reply(client, channel_city,
                                                               fake_providers, dispatcher):
    payload = p.fb_comment("6070001", "There is a broken street light here")
    messenger_say(client, payload)
    item = InboxItem.objects.get()

    inbox_item_close(item_id=item.pk, agent=dispatcher, outcome="answered",
                     reply="Thank you! Which street is it on?")
    notification = Notification.objects.get(kind="agent")
    outcome = notification_send(notification_id=notification.pk)

    comment_id = payload["entry"][0]["changes"][0]["value"]["comment_id"]
    assert outcome == "sent"
    (sent,) = fake_providers.sent_to("messenger")
    assert sent["body"] == {"recipient": {"comment_id": comment_id},
                            "message": {"text": "Thank you! Which street is it on?"}}
    item.refresh_from_db()
    assert (item.state, item.reply, item.handled_by) == ("answered",
                                                         "Thank you! Which street is it on?",
                                                         dispatcher)


def test_a_comment_by_the_page_itself_is_not_stored(client, channel_city):
    response = post_messenger(client, p.fb_comment(p.PAGE_ID, "Thank you, we are on it"))

    assert response.status_code == 200
    assert InboundMessage.objects.count() == 0
    assert InboxItem.objects.count() == 0


def test_comments_whose_author_meta_withholds_stay_apart(client, channel_city):
    first, second = p.fb_comment("", "Broken light"), p.fb_comment("", "Pothole here")
    del first["entry"][0]["changes"][0]["value"]["from"]
    del second["entry"][0]["changes"][0]["value"]["from"]

    messenger_say(client, first)
    messenger_say(client, second)

    assert ChannelContact.objects.count() == 2
    assert sorted(InboxItem.objects.values_list("text", flat=True)) == ["Broken light",
                                                                        "Pothole here"]


def test_edited_and_removed_comments_are_not_stored(client, channel_city):
    edited, removed = p.fb_comment("6070001", "typo"), p.fb_comment("6070001", "gone")
    edited["entry"][0]["changes"][0]["value"]["verb"] = "edited"
    removed["entry"][0]["changes"][0]["value"]["verb"] = "remove"

    responses = [post_messenger(client, edited), post_messenger(client, removed)]

    assert [r.status_code for r in responses] == [200, 200]
    assert InboundMessage.objects.count() == 0
