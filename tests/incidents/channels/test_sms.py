"""SMS through a Twilio-style provider: the signature over the URL and the form (the
documented vector, with and without :443), dedupe on MessageSid, a conversation answered by
numbers with the place typed as a street or a map link, MMS photos, status messages and
their delivery callbacks, and STOP, which the provider confirms itself."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import RequestFactory
from django.utils import timezone

from fixtures import channel_payloads as p
from incidents.channels.providers.sms import twilio_signature, webhook_urls
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
from tests.incidents.channels.conftest import contact, process_all, texts_sent

pytestmark = pytest.mark.django_db
WEBHOOK = "/channels/sms/webhook"
PHONE = "+358401234567"
# What the provider signs: the address it was given for the webhook (RASAD_PUBLIC_URL).
SIGNED_URL = "http://127.0.0.1:8000/channels/sms/webhook"


def post_sms(client, fields: dict[str, str], *, token: str | None = None,
             url: str = SIGNED_URL):
    body, headers = p.twilio_request(fields, token or settings.RASAD_SMS_AUTH_TOKEN, url)
    return client.post(WEBHOOK, data=body, content_type="application/x-www-form-urlencoded",
                       headers={"X-Twilio-Signature": headers["X-Twilio-Signature"]})


def sms_say(client, text: str, **kw) -> None:
    """A citizen's SMS delivered and handled, as the webhook and the worker do it."""
    assert post_sms(client, p.sms_inbound(PHONE, text, **kw)).status_code == 200
    process_all()


# -- The signature -------------------------------------------------------------------------

def test_the_signature_matches_twilios_documented_example():
    params = [("Digits", "1234"), ("To", "+18005551212"), ("From", "+14158675310"),
              ("Caller", "+14158675310"), ("CallSid", "CA1234567890ABCDE")]

    signature = twilio_signature("12345", "https://example.com/myapp.php?foo=1&bar=2", params)

    assert signature == "L/OH5YylLD5NRKLltdqwSvS0BnU="


@pytest.mark.parametrize(("url", "expected"), [
    ("https://mycompany.com/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    ("https://mycompany.com:443/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
])
def test_the_signature_covers_the_url_as_twilio_called_it(url, expected):
    params = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"),
              ("Digits", "1234"), ("From", "+14158675309"), ("To", "+18005551212")]

    assert twilio_signature("12345", url, params) == expected


def test_repeated_parameters_are_signed_in_value_order():
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"),
              ("Digits", "1234")]

    signature = twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params)

    assert signature == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(("public_url", "expected"), [
    ("https://rasad.example.org", ["https://rasad.example.org/channels/sms/webhook?a=1",
                                   "https://rasad.example.org:443/channels/sms/webhook?a=1"]),
    ("https://rasad.example.org:443", [
        "https://rasad.example.org:443/channels/sms/webhook?a=1",
        "https://rasad.example.org/channels/sms/webhook?a=1"]),
    ("http://rasad.example.org:8000", ["http://rasad.example.org:8000/channels/sms/webhook?a=1"]),
])
def test_the_webhook_url_is_tried_with_and_without_the_default_port(settings, public_url,
                                                                    expected):
    settings.RASAD_PUBLIC_URL = public_url
    request = RequestFactory().post("/channels/sms/webhook?a=1")

    assert webhook_urls(request) == expected


@pytest.mark.parametrize(("public_url", "signed_url"), [
    ("https://rasad.example.org", "https://rasad.example.org:443/channels/sms/webhook"),
    ("https://rasad.example.org:443", "https://rasad.example.org/channels/sms/webhook"),
    ("https://rasad.example.org", "https://rasad.example.org/channels/sms/webhook"),
])
def test_a_message_signed_with_or_without_443_is_accepted(client, channel_city, settings,
                                                          public_url, signed_url):
    settings.RASAD_PUBLIC_URL = public_url

    response = post_sms(client, p.sms_inbound(PHONE, "hello"), url=signed_url)

    assert response.status_code == 200
    assert InboundMessage.objects.get().text == "hello"


@pytest.mark.parametrize(("token", "url"), [
    ("someone-else", SIGNED_URL),
    ("demo-sms-token", "http://127.0.0.1:8000/channels/sms/webhook?x=1"),
    ("demo-sms-token", "https://attacker.example/channels/sms/webhook"),
])
def test_a_message_not_signed_by_the_provider_for_this_url_is_refused(client, channel_city,
                                                                      token, url):
    response = post_sms(client, p.sms_inbound(PHONE, "hello"), token=token, url=url)

    assert response.status_code == 403
    assert response.json()["code"] == "signature_invalid"
    assert InboundMessage.objects.count() == 0
    assert ChannelContact.objects.count() == 0


def test_a_message_without_a_signature_is_refused(client, channel_city):
    body, _headers = p.twilio_request(p.sms_inbound(PHONE, "hello"), "demo-sms-token",
                                      SIGNED_URL)

    response = client.post(WEBHOOK, data=body,
                           content_type="application/x-www-form-urlencoded")

    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0


def test_a_changed_body_breaks_the_signature(client, channel_city):
    fields = p.sms_inbound(PHONE, "hello")
    _body, headers = p.twilio_request(fields, "demo-sms-token", SIGNED_URL)
    forged, _headers = p.twilio_request({**fields, "Body": "hello!"}, "demo-sms-token",
                                        SIGNED_URL)

    response = client.post(WEBHOOK, data=forged,
                           content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": headers["X-Twilio-Signature"]})

    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0


def test_a_body_that_is_no_form_is_refused_and_nothing_is_stored(client, channel_city):
    body = b"Body=\xff\xfe&From=%2B358401234567"

    response = client.post(WEBHOOK, data=body, content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": "L/OH5YylLD5NRKLltdqwSvS0BnU="})

    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0


@pytest.mark.parametrize("missing", ["MessageSid", "From"])
def test_a_signed_message_without_its_sid_or_sender_gets_400(client, channel_city, missing):
    fields = p.sms_inbound(PHONE, "hello")
    fields.pop(missing)
    fields.pop({"MessageSid": "SmsSid", "From": "FromCity"}[missing])

    response = post_sms(client, fields)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert InboundMessage.objects.count() == 0


def test_the_webhook_answers_an_empty_twiml_response(client, channel_city):
    response = post_sms(client, p.sms_inbound(PHONE, "hello"))

    assert (response.status_code, response["Content-Type"]) == (200, "text/xml")
    assert response.content == b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def test_a_retried_message_is_stored_once(client, channel_city):
    fields = p.sms_inbound(PHONE, "hello")

    first = post_sms(client, fields)
    second = post_sms(client, fields)

    assert (first.status_code, second.status_code) == (200, 200)
    stored = InboundMessage.objects.get()
    assert (stored.external_id, stored.kind, stored.provider_type, stored.text) == (
        fields["MessageSid"], "text", "sms", "hello")
    citizen = contact("sms", PHONE)
    assert citizen.phone == PHONE
    assert "AccountSid" not in stored.payload


# -- The conversation ----------------------------------------------------------------------

def _conversation_to_report(client, fake):
    """text → "1" (category) → "2" (size) → a street → "1" (the place) → an MMS photo →
    "1" (send it)."""
    media_id = fake.media_put(jpeg_bytes(size=(80, 60)))
    sms_say(client, "There is a hole in the road")
    sms_say(client, "1")
    sms_say(client, "2")
    sms_say(client, "Mannerheimintie")
    sms_say(client, "1")
    sms_say(client, "Deep one", media=[(f"{fake.url}/twilio/media/{media_id}", "image/jpeg")])
    sms_say(client, "1")


def test_a_conversation_by_numbers_files_a_report_at_the_typed_street(client, channel_city,
                                                                      streets,
                                                                      fake_providers):
    _conversation_to_report(client, fake_providers)

    report = Report.objects.get()
    assert (report.category.code, report.channel, report.language) == ("pothole", "sms", "en")
    assert report.attributes == {"size": "large"}
    assert (round(report.location.x, 4), round(report.location.y, 4)) == (24.93, 60.17)
    assert report.address == "Mannerheimintie (West)"
    assert report.description == "There is a hole in the road\nDeep one"
    assert report.photos.count() == 1
    assert (report.contact, report.reporter_phone) == (contact("sms", PHONE), PHONE)
    assert Conversation.objects.get().state == "filed"
    assert not InboxItem.objects.exists()


def test_the_options_are_numbered_lines_and_the_places_are_offered(client, channel_city,
                                                                   streets, fake_providers):
    _conversation_to_report(client, fake_providers)

    texts = texts_sent(fake_providers, "sms")
    assert texts[0].endswith("What is the problem? Choose one.\n\n1. Pothole\n"
                             "2. Street light out")
    assert texts[1] == "How big is it?\n\n1. Small\n2. Large"
    assert texts[2].startswith("Where is it?")
    assert texts[3] == ("Did you mean one of these places?\n\n1. Mannerheimintie (West)\n"
                        "2. None of these")
    assert texts[4] == "Can you send a photo of it? Send SKIP if not.\n\n1. No photo"
    assert "Place: Mannerheimintie (West)" in texts[5]
    assert texts[5].endswith("Shall I send it?\n\n1. Send it\n2. Start over")
    code = Report.objects.get().tracking_code
    assert f"Tracking code: {code}" in texts[6]
    assert {s["to"] for s in fake_providers.sent_to("sms")} == {PHONE}
    assert {s["body"]["From"] for s in fake_providers.sent_to("sms")} == {"+358450000137"}


def test_the_location_question_on_sms_asks_for_a_street_or_a_link_only(client, channel_city,
                                                                       fake_providers):
    sms_say(client, "There is a hole in the road")
    sms_say(client, "2")

    assert texts_sent(fake_providers, "sms")[-1] == (
        "Where is it? Type the street name, a landmark or a map link. Send SKIP if you "
        "cannot.")


def test_the_mms_photo_is_fetched_with_the_accounts_login(client, channel_city,
                                                          fake_providers):
    media_id = fake_providers.media_put(jpeg_bytes())
    url = f"{fake_providers.url}/twilio/media/{media_id}"

    sms_say(client, "Hole in the road", media=[(url, "image/jpeg")])

    message = InboundMessage.objects.get()
    assert (message.kind, message.provider_type, message.external_id[:2]) == ("image", "mms",
                                                                             "MM")
    media = message.files.get()
    assert (media.ref, media.state, media.is_photo) == (url, "ready", True)
    assert Conversation.objects.get().data["photos"] == [media.pk]


def test_a_map_link_places_the_report(client, channel_city, fake_providers):
    sms_say(client, "The street light is dark")
    sms_say(client, "2")

    sms_say(client, "https://www.openstreetmap.org/?mlat=60.17012&mlon=24.93021#map=18/60.17/24.93")

    conversation = Conversation.objects.get()
    assert (conversation.data["lon"], conversation.data["lat"]) == (24.93021, 60.17012)
    assert conversation.state == "photo"


def test_a_street_that_is_not_there_is_asked_again(client, channel_city, streets,
                                                   fake_providers):
    sms_say(client, "The street light is dark")
    sms_say(client, "2")

    sms_say(client, "Nowherestreet")

    conversation = Conversation.objects.get()
    assert conversation.state == "location"
    assert "lon" not in conversation.data
    assert texts_sent(fake_providers, "sms")[-1].startswith(
        "I could not find “Nowherestreet” in Test City.")


def test_a_conversation_resumed_an_hour_later_goes_on_where_it_stopped(client, channel_city,
                                                                       fake_providers):
    sms_say(client, "Hole in the road")
    sms_say(client, "1")
    Conversation.objects.update(last_activity_at=timezone.now() - timedelta(hours=1))

    sms_say(client, "1")

    conversation = Conversation.objects.get()
    assert conversation.state == "location"
    assert (conversation.data["category"], conversation.data["answers"]) == ("pothole",
                                                                            {"size": "small"})


# -- Status messages, delivery reports, replies, STOP --------------------------------------

def _filed_report(client, fake_providers) -> Report:
    _conversation_to_report(client, fake_providers)
    fake_providers.clear()
    return Report.objects.get()


def _status_sent(report: Report, dispatcher, to=Status.VERIFIED) -> Notification:
    incident_transition(incident=report.incident, to=to, by=dispatcher)
    notification = Notification.objects.get(kind="status")
    notification_send(notification_id=notification.pk)
    notification.refresh_from_db()
    return notification


def test_a_status_change_is_sent_as_an_sms(client, channel_city, streets, fake_providers,
                                           dispatcher):
    report = _filed_report(client, fake_providers)

    notification = _status_sent(report, dispatcher)

    (sent,) = fake_providers.sent_to("sms")
    assert (sent["to"], sent["body"]["From"]) == (PHONE, "+358450000137")
    assert sent["body"]["Body"].startswith(f"Your report {report.tracking_code} (Pothole) is "
                                           "now: verified.")
    assert sent["body"]["StatusCallback"] == SIGNED_URL
    assert (notification.state, notification.provider_message_id) == ("sent", sent["id"])


def test_a_delivery_report_is_recorded_on_the_status_message(client, channel_city, streets,
                                                             fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)
    notification = _status_sent(report, dispatcher)

    for status in ("sent", "delivered"):
        response = post_sms(client, p.sms_status(notification.provider_message_id, status))
        assert response.status_code == 200

    notification.refresh_from_db()
    assert (notification.delivery_status, notification.last_error) == ("delivered", "")
    assert InboundMessage.objects.filter(external_id=notification.provider_message_id).count() \
        == 0


def test_an_undelivered_report_keeps_the_carriers_error(client, channel_city, streets,
                                                        fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)
    notification = _status_sent(report, dispatcher)

    post_sms(client, p.sms_status(notification.provider_message_id, "undelivered",
                                  error_code="30003"))

    notification.refresh_from_db()
    assert (notification.delivery_status, notification.last_error) == ("failed", "error 30003")


def test_queued_and_sending_reports_change_nothing(client, channel_city, streets,
                                                   fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)
    notification = _status_sent(report, dispatcher)

    for status in ("queued", "sending"):
        assert post_sms(client, p.sms_status(notification.provider_message_id,
                                             status)).status_code == 200

    notification.refresh_from_db()
    assert notification.delivery_status == ""


def test_resolved_offers_fixed_or_still_broken_as_numbers(client, channel_city, streets,
                                                          fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)
    incident = report.incident
    for status in (Status.VERIFIED, Status.ASSIGNED, Status.ON_SITE, Status.RESOLVED):
        incident = incident_transition(incident=incident, to=status, by=dispatcher)
    notification_send(notification_id=Notification.objects.get(update__to_status="resolved").pk)

    sms_say(client, "2")

    assert texts_sent(fake_providers, "sms")[0].endswith("\n\n1. It is fixed\n2. Still broken")
    incident.refresh_from_db()
    assert incident.status == "reopened"
    assert texts_sent(fake_providers, "sms")[-1] == (
        f"We have reopened your report {report.tracking_code} and told the team.")


def test_a_reply_after_a_status_message_becomes_a_public_update(client, channel_city, streets,
                                                                fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)
    _status_sent(report, dispatcher)

    sms_say(client, "It got bigger since yesterday")

    note = report.incident.updates.exclude(note="").order_by("-pk").first()
    assert (note.note, note.public, note.by) == (
        "The reporter added (SMS): It got bigger since yesterday", True, None)
    assert texts_sent(fake_providers, "sms")[-1].startswith(
        f"Thank you, we added this to your report {report.tracking_code}.")


def test_stop_is_recorded_and_answered_by_the_provider_not_by_us(client, channel_city, streets,
                                                                 fake_providers, dispatcher):
    report = _filed_report(client, fake_providers)

    sms_say(client, "STOP", opt_out_type="STOP")
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)

    assert contact("sms", PHONE).opted_out_at is not None
    assert fake_providers.sent_to("sms") == []
    assert not Notification.objects.filter(kind="status").exists()
    assert InboundMessage.objects.get(text="STOP").state == "done"


def test_stop_during_a_conversation_cancels_it_silently(client, channel_city, fake_providers):
    sms_say(client, "Hole in the road")
    fake_providers.clear()

    sms_say(client, "stop")

    assert Conversation.objects.get().state == "cancelled"
    assert fake_providers.sent_to("sms") == []


def test_start_after_stop_subscribes_again_silently(client, channel_city, fake_providers):
    sms_say(client, "STOP", opt_out_type="STOP")

    sms_say(client, "START", opt_out_type="START")

    assert contact("sms", PHONE).opted_out_at is None
    assert fake_providers.sent_to("sms") == []


def test_the_carriers_opt_in_word_resubscribes(client, channel_city, fake_providers):
    sms_say(client, "STOP")

    sms_say(client, "YES", opt_out_type="START")

    assert contact("sms", PHONE).opted_out_at is None
    assert fake_providers.sent_to("sms") == []


def test_cancel_on_sms_unsubscribes_as_carriers_read_it(client, channel_city, fake_providers):
    sms_say(client, "cancel")

    assert contact("sms", PHONE).opted_out_at is not None
    assert fake_providers.sent_to("sms") == []
