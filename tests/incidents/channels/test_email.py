"""Email: the relay's signed webhook (the raw RFC 5322 message), dedupe on Message-ID, a
conversation held as a reply thread (In-Reply-To), attachments as photos, automatic mail
kept and never answered (RFC 3834), a sender's flood kept and not answered, and status
messages whose replies thread onto the report only from the address they went to. What is
sent goes through Django's email backend (the test outbox)."""

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
from tests.conftest import jpeg_bytes
from tests.incidents.channels.conftest import contact, process_all

pytestmark = pytest.mark.django_db
WEBHOOK = "/channels/email/webhook"
CITIZEN = "citizen@example.org"


def post_email(client, raw: bytes, *, secret: str | None = None):
    body, headers = p.email_request(raw, secret or settings.RASAD_EMAIL_WEBHOOK_SECRET)
    return client.post(WEBHOOK, data=body, content_type="message/rfc822",
                       headers={"X-Rasad-Signature": headers["X-Rasad-Signature"]})


def email_say(client, raw: bytes) -> None:
    """A citizen's mail delivered and handled, as the webhook and the worker do it."""
    assert post_email(client, raw).status_code == 200
    process_all()


def mail(body: str, *, subject: str = "Street light", sender: str = f"Test Citizen <{CITIZEN}>",
         answering=None, **kw) -> bytes:
    """A citizen's mail; `answering` is one of ours it replies to, as a mail client does:
    In-Reply-To its Message-ID, "Re:" its subject, the original quoted below."""
    if answering is not None:
        quoted = "\n".join(f"> {line}" for line in answering.body.splitlines())
        body = (f"{body}\n\nOn Mon, 23 Nov 2026 at 10:00, Rasad <no-reply@rasad.local> "
                f"wrote:\n{quoted}\n")
        subject = f"Re: {answering.subject.removeprefix('Re: ')}"
        kw["in_reply_to"] = answering.extra_headers["Message-ID"]
    return p.email_raw(sender, subject, body, **kw)


def message_id_of(raw: bytes) -> str:
    import email

    return str(email.message_from_bytes(raw)["Message-ID"])


# -- The webhook ---------------------------------------------------------------------------

@pytest.mark.parametrize("signature", ["", "sha256=" + "0" * 64, "sha1=abc"])
def test_a_mail_without_our_signature_is_refused_and_nothing_is_stored(client, channel_city,
                                                                       signature):
    response = client.post(WEBHOOK, data=mail("hello"), content_type="message/rfc822",
                           headers={"X-Rasad-Signature": signature} if signature else {})

    assert response.status_code == 403
    assert response.json()["code"] == "signature_invalid"
    assert InboundMessage.objects.count() == 0
    assert ChannelContact.objects.count() == 0


def test_a_mail_signed_with_another_secret_is_refused(client, channel_city):
    response = post_email(client, mail("hello"), secret="someone-else")

    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0


@pytest.mark.parametrize("raw", [
    b"this is not a mail",
    b"To: reports@rasad.local\nSubject: no sender\n\nhello\n",
    b"From: not an address\nTo: reports@rasad.local\nSubject: hi\n\nhello\n",
])
def test_a_signed_body_that_is_no_mail_from_someone_gets_400(client, channel_city, raw):
    response = post_email(client, raw)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert InboundMessage.objects.count() == 0


def test_a_redelivered_mail_is_stored_once(client, channel_city):
    raw = mail("The street light at my door is dark")

    first = post_email(client, raw)
    second = post_email(client, raw)

    assert (first.status_code, second.status_code) == (200, 200)
    stored = InboundMessage.objects.get()
    assert (stored.external_id, stored.kind, stored.text, stored.state) == (
        message_id_of(raw).strip("<>"), "text", "The street light at my door is dark",
        "pending")
    assert stored.payload["subject"] == "Street light"
    citizen = contact("email", CITIZEN)
    assert citizen.display_name == "Test Citizen"


def test_the_same_message_id_relayed_again_is_stored_once(client, channel_city):
    first = mail("The street light is dark", message_id="<abc.123@mail.example.org>")
    again = mail("The street light is dark", message_id="<abc.123@mail.example.org>",
                 headers={"X-Relay": "second hop"})

    post_email(client, first)
    post_email(client, again)

    assert InboundMessage.objects.get().external_id == "abc.123@mail.example.org"


def test_attachments_become_photos(client, channel_city):
    raw = mail("Here it is", attachments=[("lamp.jpg", jpeg_bytes(), "image/jpeg")])

    email_say(client, raw)

    message = InboundMessage.objects.get()
    assert (message.kind, message.text) == ("image", "Here it is")
    assert message.payload["attachments"] == [{"mime": "image/jpeg",
                                               "size": len(jpeg_bytes()),
                                               "filename": "lamp.jpg"}]
    media = message.files.get()
    assert (media.state, media.is_photo, media.mime) == ("ready", True, "image/jpeg")
    assert Conversation.objects.get().data["photos"] == [media.pk]


def test_a_redelivered_mail_keeps_no_second_copy_of_its_attachment(client, channel_city,
                                                                   settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tmp_path}}}
    raw = mail("Here it is", attachments=[("lamp.jpg", jpeg_bytes(), "image/jpeg")])

    post_email(client, raw)
    post_email(client, raw)

    (kept,) = (tmp_path / "inbound-raw").iterdir()
    assert InboundMessage.objects.get().media[0]["ref"] == f"file:inbound-raw/{kept.name}"


# -- Automatic mail and floods -------------------------------------------------------------

@pytest.mark.parametrize(("auto_submitted", "headers"), [
    ("auto-replied", {}),
    ("auto-generated (warning-timeout)", {}),
    ("", {"Precedence": "bulk"}),
    ("", {"List-Id": "<city-news.example.org>"}),
    ("", {"Return-Path": "<>"}),
])
def test_automatic_mail_is_kept_as_ignored_and_never_answered(client, channel_city,
                                                              mailoutbox, auto_submitted,
                                                              headers):
    raw = mail("I am out of the office until Monday.", auto_submitted=auto_submitted,
               headers=headers)

    response = post_email(client, raw)
    handled = process_all()

    assert (response.status_code, handled) == (200, 0)
    assert InboundMessage.objects.get().state == "ignored"
    assert Conversation.objects.count() == 0
    assert mailoutbox == []


def test_auto_submitted_no_is_a_person_and_is_answered(client, channel_city, mailoutbox):
    email_say(client, mail("The street light is dark", auto_submitted="no"))

    assert InboundMessage.objects.get().state == "done"
    assert len(mailoutbox) == 1


def test_more_mails_an_hour_than_the_limit_are_kept_and_not_answered(client, channel_city,
                                                                     mailoutbox, settings):
    settings.RASAD_EMAIL_FLOOD_PER_HOUR = 3
    for number in range(4):
        post_email(client, mail(f"The street light is dark ({number})"))

    process_all()

    states = list(InboundMessage.objects.order_by("pk").values_list("state", flat=True))
    assert states == ["done", "done", "done", "flood"]
    assert len(mailoutbox) == 3


# -- The conversation ----------------------------------------------------------------------

def _conversation_to_report(client, mailoutbox) -> list[bytes]:
    """A first mail, then replies to each of our answers: "2" (category), a street, "1"
    (the place), a photo attached, "yes". Returns the citizen's mails."""
    mails = [mail("The street light at my door is dark")]
    email_say(client, mails[-1])
    for body, attachments in (("2", ()), ("Mannerheimintie", ()), ("1", ()),
                              ("Here it is", [("lamp.jpg", jpeg_bytes(), "image/jpeg")]),
                              ("yes", ())):
        mails.append(mail(body, answering=mailoutbox[-1], attachments=attachments))
        email_say(client, mails[-1])
    return mails


def test_a_reply_thread_files_a_report_with_its_photo(client, channel_city, streets,
                                                      mailoutbox):
    _conversation_to_report(client, mailoutbox)

    report = Report.objects.get()
    assert (report.category.code, report.channel, report.language) == ("street-light",
                                                                       "email", "en")
    assert (round(report.location.x, 4), round(report.location.y, 4)) == (24.93, 60.17)
    assert report.address == "Mannerheimintie (West)"
    assert report.description == "The street light at my door is dark\nHere it is"
    assert report.photos.count() == 1
    assert (report.contact, report.reporter_email) == (contact("email", CITIZEN), CITIZEN)
    assert Conversation.objects.get().state == "filed"
    assert not InboxItem.objects.exists()


def test_each_answer_is_a_reply_to_the_citizens_mail(client, channel_city, streets,
                                                     mailoutbox):
    mails = _conversation_to_report(client, mailoutbox)

    assert len(mailoutbox) == 6
    assert [m.to for m in mailoutbox] == [[CITIZEN]] * 6
    assert [m.subject for m in mailoutbox] == ["Re: Street light"] * 6
    assert [m.extra_headers["In-Reply-To"] for m in mailoutbox] == [message_id_of(raw)
                                                                    for raw in mails]
    assert [m.extra_headers["Auto-Submitted"] for m in mailoutbox] == ["auto-replied"] * 6
    assert mailoutbox[0].body.endswith("What is the problem? Choose one.\n\n1. Pothole\n"
                                       "2. Street light out")
    assert mailoutbox[1].body == ("Where is it? Type the street name, a landmark or a map "
                                  "link. Send SKIP if you cannot.")
    code = Report.objects.get().tracking_code
    assert f"Tracking code: {code}" in mailoutbox[5].body


def test_the_quoted_original_of_a_reply_is_not_read_as_the_answer(client, channel_city,
                                                                  mailoutbox):
    email_say(client, mail("The street light at my door is dark"))

    email_say(client, mail("2", answering=mailoutbox[-1]))

    message = InboundMessage.objects.order_by("pk").last()
    assert message.text == "2"
    conversation = Conversation.objects.get()
    assert (conversation.state, conversation.data["category"]) == ("location", "street-light")


def test_a_conversation_resumed_an_hour_later_goes_on_where_it_stopped(client, channel_city,
                                                                       mailoutbox):
    email_say(client, mail("There is a hole in the road"))
    email_say(client, mail("1", answering=mailoutbox[-1]))
    Conversation.objects.update(last_activity_at=timezone.now() - timedelta(hours=1))

    email_say(client, mail("1", answering=mailoutbox[-1]))

    conversation = Conversation.objects.get()
    assert conversation.state == "location"
    assert (conversation.data["category"], conversation.data["answers"]) == ("pothole",
                                                                            {"size": "small"})


# -- Status messages and replies -----------------------------------------------------------

def _filed_report(client, mailoutbox) -> Report:
    _conversation_to_report(client, mailoutbox)
    mailoutbox.clear()
    return Report.objects.get()


def _status_sent(report: Report, dispatcher) -> Notification:
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)
    notification = Notification.objects.get(kind="status")
    notification_send(notification_id=notification.pk)
    notification.refresh_from_db()
    return notification


def test_a_status_change_is_mailed_as_automatic_mail(client, channel_city, streets,
                                                     mailoutbox, dispatcher):
    report = _filed_report(client, mailoutbox)

    notification = _status_sent(report, dispatcher)

    (sent,) = mailoutbox
    assert (sent.to, sent.reply_to) == ([CITIZEN], ["reports@rasad.local"])
    assert sent.subject == f"Your report {report.tracking_code}: verified"
    assert sent.body.startswith(f"Your report {report.tracking_code} (Street light out) is now: "
                                "verified.")
    headers = sent.message()
    assert headers["Auto-Submitted"] == "auto-generated"
    assert headers["Message-ID"] == f"<{notification.provider_message_id}>"
    assert notification.state == "sent"


def test_a_reply_to_a_status_mail_becomes_a_public_update(client, channel_city, streets,
                                                          mailoutbox, dispatcher):
    report = _filed_report(client, mailoutbox)
    _status_sent(report, dispatcher)

    email_say(client, mail("It is flickering again since yesterday", answering=mailoutbox[-1]))

    note = report.incident.updates.exclude(note="").order_by("-pk").first()
    assert (note.note, note.public, note.by) == (
        "The reporter added (email): It is flickering again since yesterday", True, None)
    assert InboundMessage.objects.order_by("pk").last().report == report
    answer = mailoutbox[-1]
    assert answer.body.startswith(f"Thank you, we added this to your report "
                                  f"{report.tracking_code}.")
    assert answer.extra_headers["Auto-Submitted"] == "auto-replied"


def test_a_reply_to_a_status_mail_from_another_address_is_not_attached(client, channel_city,
                                                                       streets, mailoutbox,
                                                                       dispatcher):
    report = _filed_report(client, mailoutbox)
    _status_sent(report, dispatcher)
    notes_before = report.incident.updates.exclude(note="").count()

    email_say(client, mail("It is fixed, ignore this report", answering=mailoutbox[-1],
                           sender="Someone Else <other@example.net>"))

    report.incident.refresh_from_db()
    assert report.incident.updates.exclude(note="").count() == notes_before
    assert report.incident.status == "verified"
    stranger = InboundMessage.objects.get(contact__external_id="other@example.net")
    assert (stranger.report, stranger.conversation.contact.external_id) == (
        None, "other@example.net")
    assert mailoutbox[-1].to == ["other@example.net"]
    assert mailoutbox[-1].body.startswith("Hello! I am the reports assistant of Test City.")


def test_stop_unsubscribes_and_no_status_mail_is_written(client, channel_city, streets,
                                                         mailoutbox, dispatcher):
    report = _filed_report(client, mailoutbox)

    email_say(client, mail("STOP", subject="Unsubscribe"))
    incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)

    assert contact("email", CITIZEN).opted_out_at is not None
    assert not Notification.objects.filter(kind="status").exists()
    (sent,) = mailoutbox
    assert sent.body == ("You will get no more messages from us here. Send START to get them "
                         "again.")
