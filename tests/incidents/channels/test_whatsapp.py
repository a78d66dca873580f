"""WhatsApp Business Cloud API: the webhook (handshake, signature, dedupe, statuses), a whole
conversation to a filed report, and status messages back, through the fake Graph API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fixtures import channel_payloads as p
from incidents.models import (
    Conversation,
    InboundMessage,
    InboxItem,
    Incident,
    Notification,
    Report,
    Status,
)
from incidents.services import incident_transition
from incidents.services.notify import notification_send
from tests.conftest import CENTRE, jpeg_bytes
from tests.incidents.channels.conftest import (
    WA_ID,
    contact,
    post_whatsapp,
    process_all,
    texts_sent,
    whatsapp_say,
)

pytestmark = pytest.mark.django_db
WEBHOOK = "/channels/whatsapp/webhook"


def test_handshake_echoes_the_challenge_when_the_token_matches(client):
    response = client.get(WEBHOOK, {"hub.mode": "subscribe", "hub.verify_token":
                                    "test-verify-token", "hub.challenge": "1158201444"})

    assert (response.status_code, response.content) == (200, b"1158201444")


def test_handshake_with_another_token_is_refused(client):
    response = client.get(WEBHOOK, {"hub.mode": "subscribe", "hub.verify_token": "guess",
                                    "hub.challenge": "1158201444"})

    assert response.status_code == 403
    assert b"1158201444" not in response.content


@pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64, "sha1=abc"])
def test_a_body_without_our_signature_is_refused_and_nothing_is_stored(client, channel_city,
                                                                       signature):
    body, _headers = p.signed_json(p.wa_text(WA_ID, "hello"), "test-whatsapp-secret")

    response = client.post(WEBHOOK, data=body, content_type="application/json",
                           headers={"X-Hub-Signature-256": signature} if signature else {})

    assert response.status_code == 403
    assert response.json()["code"] == "signature_invalid"
    assert InboundMessage.objects.count() == 0


def test_a_body_signed_with_another_secret_is_refused(client, channel_city):
    response = post_whatsapp(client, p.wa_text(WA_ID, "hello"), secret="someone-else")

    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0


def test_a_signed_body_that_is_not_json_gets_400_and_nothing_is_stored(client, channel_city):
    body = b"{not json"
    response = client.post(WEBHOOK, data=body, content_type="application/json", headers={
        "X-Hub-Signature-256": p.meta_signature("test-whatsapp-secret", body)})

    assert response.status_code == 400
    assert InboundMessage.objects.count() == 0


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, channel_city, settings):
    settings.RASAD_WEBHOOK_MAX_BYTES = 1000
    payload = p.wa_text(WA_ID, "x" * 2000)

    response = post_whatsapp(client, payload)

    assert response.status_code == 413
    assert InboundMessage.objects.count() == 0


def test_a_redelivered_message_is_stored_once(client, channel_city):
    payload = p.wa_text(WA_ID, "hello")

    first = post_whatsapp(client, payload)
    second = post_whatsapp(client, payload)

    assert (first.status_code, second.status_code) == (200, 200)
    assert InboundMessage.objects.count() == 1
    stored = InboundMessage.objects.get()
    assert (stored.kind, stored.text, stored.state) == ("text", "hello", "pending")
    assert contact("whatsapp", WA_ID).display_name == "Test Citizen"


def test_the_webhook_keeps_the_raw_message_and_the_window_opens(client, channel_city):
    payload = p.wa_location(WA_ID, 60.17, 24.93, name="Tram stop", address="Main street 1")

    post_whatsapp(client, payload)

    stored = InboundMessage.objects.get()
    assert stored.payload == payload["entry"][0]["changes"][0]["value"]["messages"][0]
    assert (stored.lat, stored.lon, stored.text) == (60.17, 24.93, "Tram stop — Main street 1")
    assert contact("whatsapp", WA_ID).last_inbound_at == stored.sent_at


def _conversation_to_report(client, fake):
    """text → category (list) → size (button) → location pin → photo → confirm."""
    media_id = fake.media_put(jpeg_bytes(size=(80, 60)))
    whatsapp_say(client, p.wa_text(WA_ID, "There is a hole in the road by the tram stop"))
    whatsapp_say(client, p.wa_list_reply(WA_ID, "cat:pothole", "Pothole"))
    whatsapp_say(client, p.wa_button_reply(WA_ID, "ans:large", "Large"))
    whatsapp_say(client, p.wa_location(WA_ID, CENTRE[1], CENTRE[0]))
    whatsapp_say(client, p.wa_image(WA_ID, media_id, caption="Deep one"))
    whatsapp_say(client, p.wa_button_reply(WA_ID, "confirm:yes", "Send it"))


def test_a_conversation_files_a_report_with_its_photo_and_place(client, channel_city,
                                                                fake_providers):
    _conversation_to_report(client, fake_providers)

    report = Report.objects.get()
    assert (report.category.code, report.channel, report.language) == ("pothole", "whatsapp",
                                                                       "en")
    assert report.attributes == {"size": "large"}
    assert (round(report.location.x, 4), round(report.location.y, 4)) == CENTRE
    assert report.description == "There is a hole in the road by the tram stop\nDeep one"
    assert report.photos.count() == 1
    assert report.contact == contact("whatsapp", WA_ID)
    assert report.reporter_phone == "+358401234567"
    assert Conversation.objects.get().state == "filed"
    assert not InboxItem.objects.exists()


def test_the_conversation_asks_in_order_and_ends_with_the_tracking_code(client, channel_city,
                                                                        fake_providers):
    _conversation_to_report(client, fake_providers)

    sent = fake_providers.sent_to("whatsapp")
    kinds = [(s["body"]["type"], s["body"].get("interactive", {}).get("type")) for s in sent]
    # Two categories in the test city: buttons (a list takes 4 to 10, text more).
    assert kinds == [("interactive", "button"), ("interactive", "button"),
                     ("interactive", "location_request_message"), ("interactive", "button"),
                     ("interactive", "button"), ("text", None)]
    texts = texts_sent(fake_providers, "whatsapp")
    assert texts[0].startswith("Hello! I am the reports assistant of Test City.")
    assert "What is the problem?" in texts[0]
    assert texts[1].startswith("How big is it?")
    assert texts[2].startswith("Where is it?")
    assert texts[3].startswith("Can you send a photo")
    assert "Problem: Pothole" in texts[4]
    assert "How big is it?: Large" in texts[4]
    code = Report.objects.get().tracking_code
    assert f"Tracking code: {code}" in texts[5]
    assert all(s["to"] == WA_ID for s in sent)


def test_a_replayed_message_mid_conversation_changes_nothing(client, channel_city,
                                                             fake_providers):
    whatsapp_say(client, p.wa_text(WA_ID, "Broken pavement"))
    answer = p.wa_list_reply(WA_ID, "cat:pothole", "Pothole")
    whatsapp_say(client, answer)
    sent_before = len(fake_providers.sent)

    whatsapp_say(client, answer)

    assert len(fake_providers.sent) == sent_before
    assert InboundMessage.objects.count() == 2
    assert Conversation.objects.get().state == "question"


def test_a_conversation_resumed_an_hour_later_goes_on_where_it_stopped(client, channel_city,
                                                                       fake_providers):
    whatsapp_say(client, p.wa_text(WA_ID, "Hole in the road"))
    whatsapp_say(client, p.wa_list_reply(WA_ID, "cat:pothole", "Pothole"))
    Conversation.objects.update(last_activity_at=timezone.now() - timedelta(hours=1))

    whatsapp_say(client, p.wa_button_reply(WA_ID, "ans:small", "Small"))

    conversation = Conversation.objects.get()
    assert conversation.state == "location"
    assert conversation.data["category"] == "pothole"
    assert conversation.data["answers"] == {"size": "small"}
    assert texts_sent(fake_providers, "whatsapp")[-1].startswith("Where is it?")


def test_an_idle_conversation_expires_and_what_it_gathered_goes_to_the_inbox(
        client, channel_city, fake_providers):
    from incidents.channels.process import conversations_expire_idle

    whatsapp_say(client, p.wa_text(WA_ID, "Hole in the road"))
    whatsapp_say(client, p.wa_list_reply(WA_ID, "cat:pothole", "Pothole"))
    Conversation.objects.update(last_activity_at=timezone.now() - timedelta(hours=13))

    expired = conversations_expire_idle()

    assert expired == 1
    assert Conversation.objects.get().state == "expired"
    item = InboxItem.objects.get()
    assert (item.reason, item.state, item.category.code, item.text) == (
        "expired", "open", "pothole", "Hole in the road")
    assert item.messages.count() == 2
    assert texts_sent(fake_providers, "whatsapp")[-1].startswith("We have not heard from you")


def test_a_location_outside_the_city_is_answered_with_the_area_name(client, channel_city,
                                                                    fake_providers):
    whatsapp_say(client, p.wa_text(WA_ID, "Dark street"))
    whatsapp_say(client, p.wa_list_reply(WA_ID, "cat:street-light", "Street light out"))

    whatsapp_say(client, p.wa_location(WA_ID, 35.69, 51.33))

    assert "outside the service area of Test City" in texts_sent(fake_providers, "whatsapp")[-1]
    assert Conversation.objects.get().state == "location"
    assert "lon" not in Conversation.objects.get().data


def test_an_open_incident_there_is_offered_as_me_too(client, channel_city, make_report,
                                                     fake_providers, street_light):
    existing = make_report(street_light)
    whatsapp_say(client, p.wa_text(WA_ID, "Lamp is dark"))
    whatsapp_say(client, p.wa_list_reply(WA_ID, "cat:street-light", "Street light out"))
    whatsapp_say(client, p.wa_location(WA_ID, CENTRE[1], CENTRE[0]))

    assert texts_sent(fake_providers, "whatsapp")[-1].startswith(
        "This problem has already been reported here (1 reports, now: new)")
    whatsapp_say(client, p.wa_button_reply(WA_ID, "metoo:yes", "Yes, me too"))

    joined = Report.objects.exclude(pk=existing.pk).get()
    assert (joined.incident_id, joined.joined_existing) == (existing.incident_id, True)
    assert Incident.objects.get().report_count == 2
    assert "You are added to the report" in texts_sent(fake_providers, "whatsapp")[-1]


def test_a_sticker_goes_to_the_inbox_with_a_polite_answer(client, channel_city, fake_providers):
    whatsapp_say(client, p.wa_sticker(WA_ID))

    message = InboundMessage.objects.get()
    assert (message.kind, message.provider_type, message.state) == ("unsupported", "sticker",
                                                                    "done")
    assert message.inbox_item.reason == "unsupported"
    assert "I understand text, photos and locations" in texts_sent(fake_providers,
                                                                   "whatsapp")[-1]


def test_a_photo_over_the_limit_is_refused_with_the_reason(client, channel_city,
                                                           fake_providers, settings):
    settings.RASAD_PHOTO_MAX_BYTES = 2000
    media_id = fake_providers.media_put(b"\xff\xd8" + b"0" * 5000)
    whatsapp_say(client, p.wa_text(WA_ID, "Hole"))

    whatsapp_say(client, p.wa_image(WA_ID, media_id))

    media = InboundMessage.objects.get(kind="image").files.get()
    assert media.state == "failed"
    assert "larger than" in media.error
    assert "I could not receive your photo (The file is larger than" in texts_sent(
        fake_providers, "whatsapp")[-1]


def test_a_provider_outage_while_fetching_a_photo_waits_and_loses_nothing(
        client, channel_city, fake_providers):
    from incidents.services.media import MediaTemporarilyUnavailable

    media_id = fake_providers.media_put(jpeg_bytes())
    fake_providers.fail_next["whatsapp-media"] = 1
    post_whatsapp(client, p.wa_image(WA_ID, media_id))

    with pytest.raises(MediaTemporarilyUnavailable):
        process_all()
    assert InboundMessage.objects.get().state == "pending"
    process_all()

    message = InboundMessage.objects.get()
    assert message.state == "done"
    assert message.files.get().state == "ready"


def _filed_report(client, fake_providers):
    _conversation_to_report(client, fake_providers)
    fake_providers.clear()
    return Report.objects.get()


def test_a_status_change_is_sent_on_whatsapp_as_text_within_24_hours(client, channel_city,
                                                                     fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)

    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
    notification = Notification.objects.get(kind="status")
    outcome = notification_send(notification_id=notification.pk)

    assert outcome == "sent"
    (sent,) = fake_providers.sent_to("whatsapp")
    assert sent["body"]["type"] == "text"
    assert sent["body"]["text"]["body"].startswith(f"Your report {report.tracking_code} "
                                                   "(Pothole) is now: verified.")
    notification.refresh_from_db()
    assert notification.provider_message_id == sent["id"]


def test_outside_the_24_hour_window_a_template_is_sent(client, channel_city, fake_providers,
                                                       dispatcher):
    report = _filed_report(client, fake_providers)
    report.contact.__class__.objects.filter(pk=report.contact_id).update(
        last_inbound_at=timezone.now() - timedelta(hours=25))

    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
    notification_send(notification_id=Notification.objects.get(kind="status").pk)

    (sent,) = fake_providers.sent_to("whatsapp")
    assert sent["body"]["type"] == "template"
    assert sent["body"]["template"] == {
        "name": "rasad_status_update", "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [
            {"type": "text", "text": report.tracking_code},
            {"type": "text", "text": "verified"}]}]}


def test_delivery_statuses_are_recorded_forward_only(client, channel_city, fake_providers,
                                                     dispatcher):
    report = _filed_report(client, fake_providers)
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
    notification = Notification.objects.get(kind="status")
    notification_send(notification_id=notification.pk)
    notification.refresh_from_db()

    for status in ("read", "delivered", "sent"):  # out of order: read wins
        response = post_whatsapp(client, p.wa_status(notification.provider_message_id, status,
                                                     WA_ID))
        assert response.status_code == 200

    notification.refresh_from_db()
    assert notification.delivery_status == "read"
    assert InboundMessage.objects.filter(kind="text").count() == 1  # statuses are no messages


def test_a_failed_status_keeps_the_providers_reason(client, channel_city, fake_providers,
                                                    dispatcher):
    report = _filed_report(client, fake_providers)
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
    notification = Notification.objects.get(kind="status")
    notification_send(notification_id=notification.pk)
    notification.refresh_from_db()

    post_whatsapp(client, p.wa_status(notification.provider_message_id, "failed", WA_ID,
                                      error_code=131047))

    notification.refresh_from_db()
    assert notification.delivery_status == "failed"
    assert notification.last_error.startswith("131047 Re-engagement message: Message failed")


def test_a_reply_to_a_status_message_becomes_a_public_update(client, channel_city,
                                                             fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
    notification = Notification.objects.get(kind="status")
    notification_send(notification_id=notification.pk)
    notification.refresh_from_db()

    whatsapp_say(client, p.wa_text(WA_ID, "It got bigger since yesterday",
                                   context_id=notification.provider_message_id))

    note = report.incident.updates.exclude(note="").order_by("-pk").first()
    assert (note.note, note.public, note.by) == (
        "The reporter added (WhatsApp): It got bigger since yesterday", True, None)
    assert texts_sent(fake_providers, "whatsapp")[-1].startswith(
        f"Thank you, we added this to your report {report.tracking_code}.")
    assert Conversation.objects.filter(closed_at__isnull=True).count() == 0


def test_still_broken_after_resolved_reopens_the_report(client, channel_city, fake_providers,
                                                        dispatcher):
    report = _filed_report(client, fake_providers)
    incident = report.incident
    for status in (Status.VERIFIED, Status.ASSIGNED, Status.ON_SITE, Status.RESOLVED):
        incident = incident_transition(incident=incident, to=status, by=dispatcher)
    resolved = Notification.objects.get(update__to_status="resolved")
    assert [o["id"] for o in resolved.options] == [f"fixed:{report.tracking_code}",
                                                   f"broken:{report.tracking_code}"]
    notification_send(notification_id=resolved.pk)

    whatsapp_say(client, p.wa_button_reply(WA_ID, f"broken:{report.tracking_code}",
                                           "Still broken"))

    incident.refresh_from_db()
    assert incident.status == "reopened"
    assert incident.updates.get(to_status="reopened").note == (
        "Reopened by the reporter: Still broken, says the reporter (WhatsApp).")
    assert texts_sent(fake_providers, "whatsapp")[-1] == (
        f"We have reopened your report {report.tracking_code} and told the team.")


def test_stop_unsubscribes_and_no_status_message_is_written(client, channel_city,
                                                            fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)

    whatsapp_say(client, p.wa_text(WA_ID, "STOP"))
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)

    assert contact("whatsapp", WA_ID).opted_out_at is not None
    assert not Notification.objects.filter(kind="status").exists()
    assert texts_sent(fake_providers, "whatsapp")[-1].startswith("You will get no more messages")


@pytest.mark.parametrize("word", ["إلغاء", "لغو", "stop"])
def test_stop_words_in_every_language_unsubscribe(client, channel_city, fake_providers, word):
    whatsapp_say(client, p.wa_text(WA_ID, word))

    assert contact("whatsapp", WA_ID).opted_out_at is not None


def test_a_blocked_sender_is_answered_nothing_and_kept_for_staff(client, channel_city,
                                                                 fake_providers):
    post_whatsapp(client, p.wa_text(WA_ID, "hello"))
    contact("whatsapp", WA_ID).__class__.objects.update(blocked=True)

    process_all()

    assert InboundMessage.objects.get().state == "blocked"
    assert fake_providers.sent == []


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_answers_what_the_webhook_stored(client, channel_city, fake_providers,
                                                       celery_worker):
    import time

    response = post_whatsapp(client, p.wa_text(WA_ID, "There is a dark street lamp"))

    assert response.status_code == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not fake_providers.sent_to("whatsapp"):
        time.sleep(0.1)
    (sent,) = fake_providers.sent_to("whatsapp")
    assert sent["body"]["interactive"]["body"]["text"].startswith("Hello! I am the reports")
    assert InboundMessage.objects.get().state == "done"
    assert Notification.objects.get(kind="dialogue").state == "sent"


def test_messages_whose_task_was_lost_are_found_by_the_sweeper(client, channel_city):
    from incidents.channels.process import inbound_stale_contacts

    post_whatsapp(client, p.wa_text(WA_ID, "hello"))  # in a test transaction no task runs
    InboundMessage.objects.update(received_at=timezone.now() - timedelta(minutes=2))

    assert inbound_stale_contacts() == [contact("whatsapp", WA_ID).pk]


def test_a_photo_first_keeps_the_photo_and_asks_the_language(client, channel_city,
                                                             fake_providers):
    media_id = fake_providers.media_put(jpeg_bytes())

    whatsapp_say(client, p.wa_image(WA_ID, media_id))

    (sent,) = fake_providers.sent_to("whatsapp")
    buttons = sent["body"]["interactive"]["action"]["buttons"]
    assert [b["reply"]["id"] for b in buttons] == ["lang:ar", "lang:fa", "lang:en"]
    conversation = Conversation.objects.get()
    assert (conversation.state, len(conversation.data["photos"])) == ("language", 1)
    whatsapp_say(client, p.wa_button_reply(WA_ID, "lang:fa", "فارسی"))
    conversation.refresh_from_db()
    assert (conversation.language, conversation.state) == ("fa", "category")
    assert contact("whatsapp", WA_ID).language == "fa"


@pytest.mark.parametrize(("text", "language"), [
    ("چراغ خیابان کوچه ما خاموش است", "fa"),
    ("الإنارة في شارعنا معطلة منذ يومين", "ar"),
    ("The street light is out", "en"),
])
def test_the_language_is_read_from_the_first_text(client, channel_city, fake_providers, text,
                                                  language):
    whatsapp_say(client, p.wa_text(WA_ID, text))

    assert Conversation.objects.get().language == language


def test_a_category_can_be_typed_by_name(client, channel_city, fake_providers):
    whatsapp_say(client, p.wa_text(WA_ID, "Problem here"))

    whatsapp_say(client, p.wa_text(WA_ID, "street light"))

    conversation = Conversation.objects.get()
    assert (conversation.data["category"], conversation.state) == ("street-light", "location")


def test_skip_at_the_location_hands_the_report_to_the_inbox(client, channel_city,
                                                           fake_providers):
    whatsapp_say(client, p.wa_text(WA_ID, "Lamp dark"))
    whatsapp_say(client, p.wa_button_reply(WA_ID, "cat:street-light", "Street light out"))

    whatsapp_say(client, p.wa_text(WA_ID, "skip"))

    item = InboxItem.objects.get()
    assert (item.reason, item.category.code, item.text) == ("no_location", "street-light",
                                                            "Lamp dark")
    assert texts_sent(fake_providers, "whatsapp")[-1].startswith(
        "Thank you. Our team will place your report on the map")


def test_a_typed_street_is_offered_and_picked(client, channel_city, fake_providers, streets):
    whatsapp_say(client, p.wa_text(WA_ID, "Lamp dark"))
    whatsapp_say(client, p.wa_button_reply(WA_ID, "cat:street-light", "Street light out"))

    whatsapp_say(client, p.wa_text(WA_ID, "Simonkatu 5"))

    sent = fake_providers.sent_to("whatsapp")[-1]["body"]["interactive"]
    assert sent["body"]["text"] == "Did you mean one of these places?"
    rows = [b["reply"] for b in sent["action"]["buttons"]]
    assert rows == [{"id": "place:0", "title": "Simonkatu (West)"},
                    {"id": "place:none", "title": "None of these"}]
    whatsapp_say(client, p.wa_button_reply(WA_ID, "place:0", "Simonkatu (West)"))
    data = Conversation.objects.get().data
    assert (data["address"], round(data["lat"], 3)) == ("Simonkatu (West)", 60.17)


def test_an_over_long_description_is_cut_and_kept_whole_for_staff(client, channel_city,
                                                                  fake_providers):
    long_text = "a" * 4500
    whatsapp_say(client, p.wa_text(WA_ID, long_text))
    whatsapp_say(client, p.wa_button_reply(WA_ID, "cat:street-light", "Street light out"))
    whatsapp_say(client, p.wa_location(WA_ID, CENTRE[1], CENTRE[0]))
    whatsapp_say(client, p.wa_button_reply(WA_ID, "photo:skip", "No photo"))

    whatsapp_say(client, p.wa_button_reply(WA_ID, "confirm:yes", "Send it"))

    assert len(Report.objects.get().description) == 4000
    assert InboundMessage.objects.order_by("pk").first().text == long_text
    assert texts_sent(fake_providers, "whatsapp")[-1].startswith(
        "Your message is long: the report keeps its first 4000 characters")


def test_cancel_ends_the_conversation_but_keeps_the_subscription(client, channel_city,
                                                                 fake_providers):
    whatsapp_say(client, p.wa_text(WA_ID, "Lamp dark"))

    whatsapp_say(client, p.wa_text(WA_ID, "cancel"))

    assert Conversation.objects.get().state == "cancelled"
    assert contact("whatsapp", WA_ID).opted_out_at is None
    assert texts_sent(fake_providers, "whatsapp")[-1] == (
        "Cancelled. Write to us any time to report a problem.")


def test_a_pin_is_described_by_the_nearest_street(client, channel_city, fake_providers,
                                                  streets):
    whatsapp_say(client, p.wa_text(WA_ID, "Lamp dark"))
    whatsapp_say(client, p.wa_button_reply(WA_ID, "cat:street-light", "Street light out"))
    whatsapp_say(client, p.wa_location(WA_ID, 60.1701, 24.9330))
    whatsapp_say(client, p.wa_button_reply(WA_ID, "photo:skip", "No photo"))

    assert "Place: near Simonkatu" in texts_sent(fake_providers, "whatsapp")[-1]
    whatsapp_say(client, p.wa_button_reply(WA_ID, "confirm:yes", "Send it"))
    assert Report.objects.get().address == "near Simonkatu"


def test_a_category_retired_mid_conversation_is_asked_again(client, channel_city,
                                                            fake_providers, street_light):
    whatsapp_say(client, p.wa_text(WA_ID, "Lamp dark"))
    whatsapp_say(client, p.wa_button_reply(WA_ID, "cat:street-light", "Street light out"))
    street_light.__class__.objects.filter(pk=street_light.pk).update(active=False)

    whatsapp_say(client, p.wa_location(WA_ID, CENTRE[1], CENTRE[0]))

    conversation = Conversation.objects.get()
    assert (conversation.state, "category" in conversation.data) == ("category", False)
    assert "lon" in conversation.data  # the pin is kept
    assert texts_sent(fake_providers, "whatsapp")[-1].startswith("What is the problem?")


def test_a_message_the_dialogue_keeps_failing_on_goes_to_people(client, channel_city,
                                                                fake_providers):
    whatsapp_say(client, p.wa_text(WA_ID, "Lamp dark"))
    Conversation.objects.update(data={"greeted": True, "tries": "not a mapping"})  # a bug
    post_whatsapp(client, p.wa_text(WA_ID, "it is near the school"))
    post_whatsapp(client, p.wa_text(WA_ID, "hello?"))

    for _attempt in range(3):
        with pytest.raises(AttributeError):
            process_all()
    process_all()

    failed, after = InboundMessage.objects.order_by("pk")[1:]
    assert (failed.state, failed.attempts, failed.inbox_item.reason) == ("done", 4, "failed")
    assert (after.state, after.inbox_item) == ("done", failed.inbox_item)
    assert Conversation.objects.get().state == "inbox"
    assert texts_sent(fake_providers, "whatsapp")[1:] == [
        "A member of our team will read your messages and answer you here.",
        "Thank you, we added this to your message for our team."]
