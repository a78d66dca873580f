"""Email in by IMAP polling, against a fake IMAP4rev1 server on 127.0.0.1
(fixtures.fake_imap): new mail is stored once and marked seen, a second poll stores nothing,
a message that is no readable mail stays unread, and mail already stored is only marked."""

import imaplib

import pytest
from django.conf import settings

from fixtures import channel_payloads as p
from fixtures.fake_imap import FakeImap
from incidents.channels.imap import imap_poll
from incidents.models import InboundMessage

pytestmark = pytest.mark.django_db
CITIZEN = "Test Citizen <citizen@example.org>"
BROKEN = b"To: reports@rasad.local\r\nSubject: no sender\r\n\r\nWho sent this?\r\n"


@pytest.fixture
def mailbox(settings):
    fake = FakeImap(user="reports@rasad.local", password='pa ss"word').start()
    settings.RASAD_IMAP_HOST = "127.0.0.1"
    settings.RASAD_IMAP_PORT = fake.port
    settings.RASAD_IMAP_SSL = False
    settings.RASAD_IMAP_USER = "reports@rasad.local"
    settings.RASAD_IMAP_PASSWORD = 'pa ss"word'
    yield fake
    fake.stop()


def test_new_mail_is_stored_and_marked_seen(channel_city, mailbox):
    first = p.email_raw(CITIZEN, "Street light", "The lamp at my door is dark",
                        message_id="<one@mail.example.org>")
    second = p.email_raw(CITIZEN, "Pothole", "A hole by the tram stop",
                         message_id="<two@mail.example.org>")
    uids = [mailbox.deliver(first), mailbox.deliver(second)]

    stored = imap_poll()

    assert stored == 2
    assert list(InboundMessage.objects.order_by("pk").values_list(
        "provider", "external_id", "text", "state")) == [
        ("email", "one@mail.example.org", "The lamp at my door is dark", "pending"),
        ("email", "two@mail.example.org", "A hole by the tram stop", "pending")]
    assert [mailbox.flags(uid) for uid in uids] == [{"\\Seen"}, {"\\Seen"}]


def test_the_poll_peeks_and_marks_each_message_only_after_storing_it(channel_city, mailbox):
    uid = mailbox.deliver(p.email_raw(CITIZEN, "Street light", "The lamp is dark"))

    imap_poll()

    assert mailbox.commands == ["CAPABILITY", "LOGIN reports@rasad.local", "SELECT INBOX",
                                "UID SEARCH UNSEEN UNFLAGGED", f"UID FETCH {uid} (BODY.PEEK[])",
                                f"UID STORE {uid} +FLAGS (\\Seen)", "LOGOUT"]


def test_a_second_poll_stores_nothing_new(channel_city, mailbox):
    mailbox.deliver(p.email_raw(CITIZEN, "Street light", "The lamp at my door is dark"))
    imap_poll()
    mailbox.commands.clear()

    stored = imap_poll()

    assert stored == 0
    assert InboundMessage.objects.count() == 1
    assert "UID SEARCH UNSEEN UNFLAGGED" in mailbox.commands
    assert not [c for c in mailbox.commands if c.startswith(("UID FETCH", "UID STORE"))]


def test_a_message_that_is_no_readable_mail_is_left_unread_and_flagged(channel_city, mailbox):
    broken = mailbox.deliver(BROKEN)
    good = mailbox.deliver(p.email_raw(CITIZEN, "Street light", "The lamp is dark"))

    stored = imap_poll()

    assert stored == 1
    assert InboundMessage.objects.get().text == "The lamp is dark"
    assert (mailbox.flags(broken), mailbox.flags(good)) == ({"\\Flagged"}, {"\\Seen"})
    assert mailbox.unseen() == [broken]


def test_a_flagged_message_is_passed_over_by_later_polls(channel_city, mailbox):
    mailbox.deliver(BROKEN)
    imap_poll()
    mailbox.commands.clear()

    imap_poll()

    assert not [c for c in mailbox.commands if c.startswith("UID FETCH")]


def test_a_message_over_the_size_limit_is_left_unread(channel_city, mailbox, settings):
    settings.RASAD_EMAIL_MAX_BYTES = 2000
    large = mailbox.deliver(p.email_raw(CITIZEN, "Photos", "x" * 5000))

    stored = imap_poll()

    assert stored == 0
    assert InboundMessage.objects.count() == 0
    assert mailbox.unseen() == [large]
    assert mailbox.flags(large) == {"\\Flagged"}


def test_mail_the_relay_already_delivered_is_only_marked_seen(client, channel_city, mailbox):
    raw = p.email_raw(CITIZEN, "Street light", "The lamp is dark",
                      message_id="<relayed@mail.example.org>")
    body, headers = p.email_request(raw, settings.RASAD_EMAIL_WEBHOOK_SECRET)
    client.post("/channels/email/webhook", data=body, content_type="message/rfc822",
                headers={"X-Rasad-Signature": headers["X-Rasad-Signature"]})
    uid = mailbox.deliver(raw)

    stored = imap_poll()

    assert stored == 0
    assert InboundMessage.objects.get().external_id == "relayed@mail.example.org"
    assert mailbox.flags(uid) == {"\\Seen"}


def test_automatic_mail_from_the_mailbox_is_stored_as_ignored(channel_city, mailbox):
    mailbox.deliver(p.email_raw(CITIZEN, "Out of office", "Back on Monday",
                                auto_submitted="auto-replied"))

    stored = imap_poll()

    assert stored == 1
    assert InboundMessage.objects.get().state == "ignored"


def test_a_wrong_password_stores_nothing_and_marks_nothing(channel_city, mailbox, settings):
    settings.RASAD_IMAP_PASSWORD = "guess"
    uid = mailbox.deliver(p.email_raw(CITIZEN, "Street light", "The lamp is dark"))

    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap_poll()

    assert InboundMessage.objects.count() == 0
    assert mailbox.unseen() == [uid]


def test_without_a_host_nothing_is_polled(channel_city, mailbox, settings):
    settings.RASAD_IMAP_HOST = ""
    mailbox.deliver(p.email_raw(CITIZEN, "Street light", "The lamp is dark"))

    stored = imap_poll()

    assert stored == 0
    assert mailbox.commands == []
