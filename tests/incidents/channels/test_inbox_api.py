"""The verification inbox's API: messages a bot could not file land there; agents file them
as reports for the citizen, or close them with an answer that goes back on the channel."""

import pytest
from rest_framework.test import APIClient

from fixtures import channel_payloads as p
from incidents.models import (
    ChannelContact,
    Conversation,
    InboundMessage,
    InboxItem,
    Notification,
    Report,
)
from ops.roles import Role
from tests.conftest import CENTRE, jpeg_bytes, user_with_role
from tests.incidents.channels.conftest import WA_ID, whatsapp_say

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(client, channel_city, fake_providers):
    """A citizen who wrote, sent a photo, then asked for a person."""
    media_id = fake_providers.media_put(jpeg_bytes())
    whatsapp_say(client, p.wa_text(WA_ID, "The lamp at the school gate has been dark for days"))
    whatsapp_say(client, p.wa_image(WA_ID, media_id))
    whatsapp_say(client, p.wa_text(WA_ID, "agent"))
    fake_providers.clear()
    return InboxItem.objects.get()


def test_asking_for_a_person_puts_the_whole_conversation_in_the_inbox(item):
    assert (item.reason, item.state) == ("person", "open")
    assert item.text == "The lamp at the school gate has been dark for days"
    assert item.messages.count() == 3
    assert Conversation.objects.get().state == "inbox"


def test_the_inbox_lists_open_items_newest_first(agent_client, item, client, fake_providers):
    whatsapp_say(client, p.wa_sticker("358409999999"))

    response = agent_client.get("/api/v1/inbox/")

    assert response.status_code == 200
    body = response.json()
    assert [r["reason"] for r in body["results"]] == ["unsupported", "person"]
    first = body["results"][1]
    assert (first["message_count"], first["photo_count"]) == (3, 1)
    assert first["contact"]["external_id"] == WA_ID


@pytest.mark.parametrize("role", [None, Role.CITIZEN, Role.CREW])
def test_only_intake_staff_see_the_inbox(api_client, item, role):
    if role is not None:
        api_client.force_authenticate(user_with_role(role))

    response = api_client.get("/api/v1/inbox/")

    assert response.status_code in (401, 403)


def test_an_item_shows_the_messages_their_files_and_the_senders_history(agent_client, item,
                                                                        make_report, pothole):
    old = make_report(pothole, reporter_phone="+358401234567", attributes={"size": "small"})

    body = agent_client.get(f"/api/v1/inbox/{item.pk}/").json()

    assert [m["kind"] for m in body["messages"]] == ["text", "image", "text"]
    (photo,) = body["messages"][1]["files"]
    assert (photo["is_photo"], photo["url"]) == (True, f"/api/v1/inbox/media/{photo['id']}/")
    assert [r["tracking_code"] for r in body["history"]["reports"]] == [old.tracking_code]


def test_the_citizens_photo_is_served_to_staff_only(agent_client, api_client, item):
    photo = item.messages.get(kind="image").files.get()

    staff = agent_client.get(f"/api/v1/inbox/media/{photo.pk}/")
    public = api_client.get(f"/api/v1/inbox/media/{photo.pk}/")

    assert (staff.status_code, staff["Content-Type"]) == (200, "image/jpeg")
    assert b"".join(staff.streaming_content)[:2] == b"\xff\xd8"
    assert public.status_code in (401, 403)


def test_an_agent_files_the_report_and_the_citizen_gets_its_code(agent_client, agent, item,
                                                                 street_light, fake_providers):
    response = agent_client.post(f"/api/v1/inbox/{item.pk}/file/", {
        "category": "street-light", "lon": CENTRE[0], "lat": CENTRE[1],
        "address": "School gate", "description": "Lamp dark for days"}, format="json")

    assert response.status_code == 201
    report = Report.objects.get()
    assert response.json()["report"]["tracking_code"] == report.tracking_code
    assert (report.category.code, report.channel, report.submitted_by, report.address) == (
        "street-light", "whatsapp", agent, "School gate")
    assert report.contact == ChannelContact.objects.get(external_id=WA_ID)
    assert report.photos.count() == 1
    item.refresh_from_db()
    assert (item.state, item.report, item.handled_by) == ("filed", report, agent)
    assert set(InboundMessage.objects.values_list("report", flat=True)) == {report.pk}
    answer = Notification.objects.get(kind="agent")
    assert answer.recipient == WA_ID
    assert f"Tracking code: {report.tracking_code}" in answer.body


def test_filing_an_item_twice_is_refused_and_files_nothing_more(agent_client, item,
                                                                street_light):
    body = {"category": "street-light", "lon": CENTRE[0], "lat": CENTRE[1]}
    agent_client.post(f"/api/v1/inbox/{item.pk}/file/", body, format="json")

    again = agent_client.post(f"/api/v1/inbox/{item.pk}/file/", body, format="json")

    assert again.status_code == 409
    assert again.json()["detail"].startswith("This item was already handled: filed as a report")
    assert Report.objects.count() == 1
    assert Notification.objects.filter(kind="agent").count() == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"category": "nope", "lon": CENTRE[0], "lat": CENTRE[1]}, "service_code"),
    ({"category": "street-light", "lon": 51.33, "lat": 35.69}, "lat"),
    ({"category": "street-light", "lat": CENTRE[1]}, "lon"),
])
def test_a_bad_filing_changes_nothing(agent_client, item, street_light, body, field):
    response = agent_client.post(f"/api/v1/inbox/{item.pk}/file/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]
    item.refresh_from_db()
    assert item.state == "open"
    assert not Report.objects.exists()
    assert not Notification.objects.filter(kind="agent").exists()


def test_a_manager_may_read_but_not_file(item, street_light):
    client = APIClient()
    client.force_authenticate(user_with_role(Role.MANAGER))

    read = client.get(f"/api/v1/inbox/{item.pk}/")
    act = client.post(f"/api/v1/inbox/{item.pk}/file/", {
        "category": "street-light", "lon": CENTRE[0], "lat": CENTRE[1]}, format="json")

    assert (read.status_code, act.status_code) == (200, 403)
    assert not Report.objects.exists()


def test_answered_sends_the_agents_answer_back(agent_client, item):
    response = agent_client.post(f"/api/v1/inbox/{item.pk}/close/", {
        "outcome": "answered", "reply": "The school lamps are the school's; we told them."},
        format="json")

    assert response.status_code == 200
    item.refresh_from_db()
    assert (item.state, item.reply) == ("answered",
                                        "The school lamps are the school's; we told them.")
    answer = Notification.objects.get(kind="agent")
    assert (answer.body, answer.channel) == ("The school lamps are the school's; we told them.",
                                             "whatsapp")


def test_answered_without_an_answer_is_refused(agent_client, item):
    response = agent_client.post(f"/api/v1/inbox/{item.pk}/close/", {"outcome": "answered"},
                                 format="json")

    assert response.status_code == 400
    assert response.json()["errors"]["reply"] == [
        "Write the answer that goes back to the citizen."]
    item.refresh_from_db()
    assert item.state == "open"


def test_a_duplicate_points_the_citizen_to_the_known_report(agent_client, item, make_report,
                                                            street_light):
    known = make_report(street_light)

    response = agent_client.post(f"/api/v1/inbox/{item.pk}/close/", {
        "outcome": "duplicate", "duplicate_of": known.tracking_code.lower()}, format="json")

    assert response.status_code == 200
    item.refresh_from_db()
    assert (item.state, item.report) == ("duplicate", known)
    assert f"tracking code {known.tracking_code}" in Notification.objects.get(kind="agent").body


def test_a_duplicate_of_an_unknown_code_is_refused(agent_client, item):
    response = agent_client.post(f"/api/v1/inbox/{item.pk}/close/", {
        "outcome": "duplicate", "duplicate_of": "ZZZZ9999"}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == "No report has the tracking code “ZZZZ9999”."
    item.refresh_from_db()
    assert item.state == "open"


def test_spam_with_block_answers_nothing_and_blocks_the_sender(agent_client, item, client):
    response = agent_client.post(f"/api/v1/inbox/{item.pk}/close/", {
        "outcome": "spam", "reply": "ignored", "block": True}, format="json")

    assert response.status_code == 200
    contact = ChannelContact.objects.get(external_id=WA_ID)
    assert contact.blocked
    assert contact.blocked_reason == f"Marked as spam in the inbox (#{item.pk})."
    assert not Notification.objects.filter(kind="agent").exists()
    whatsapp_say(client, p.wa_text(WA_ID, "hello again"))
    assert InboundMessage.objects.order_by("-pk").first().state == "blocked"


def test_unblocking_lets_the_sender_talk_again(agent_client, item):
    contact = item.contact
    agent_client.post(f"/api/v1/contacts/{contact.pk}/block/", {"reason": "abuse"},
                      format="json")

    response = agent_client.post(f"/api/v1/contacts/{contact.pk}/unblock/")

    assert (response.status_code, response.json()["blocked"]) == (200, False)


def test_new_messages_of_a_sender_waiting_for_the_team_join_their_item(client, item,
                                                                       fake_providers):
    whatsapp_say(client, p.wa_text(WA_ID, "It is the one on the left"))

    item.refresh_from_db()
    assert item.messages.count() == 4
    assert item.text.endswith("It is the one on the left")
    assert InboxItem.objects.count() == 1
    sent = fake_providers.sent_to("whatsapp")[-1]["body"]["text"]["body"]
    assert sent == "Thank you, we added this to your message for our team."
